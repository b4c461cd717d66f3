//! First run: the one-time setup link creates the owner account.

use crate::web::extract::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Nav;
use super::meta::ClientMeta;
use crate::auth::owner::{self, OwnerError};
use crate::auth::session;
use crate::crypto::{self, Secret};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
pub struct SetupPage {
    nav: Nav,
    username: String,
    error: Option<String>,
}

fn plausible_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn setup_form(State(state): State<AppState>, Path(token): Path<String>) -> AppResult<Response> {
    let usable =
        plausible_token(&token) && db::setup_tokens::is_usable(&state.db, &crypto::digest(&token), state.now()).await?;
    if !usable {
        return Err(AppError::SetupLinkUnavailable);
    }
    let page = SetupPage { nav: Nav::anonymous(), username: String::new(), error: None };
    Ok((super::headers::NO_STORE, page).into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    username: String,
    password: String,
    confirm: String,
}

pub async fn create_owner(
    State(state): State<AppState>,
    Path(token): Path<String>,
    meta: ClientMeta,
    Form(form): Form<SetupForm>,
) -> AppResult<Response> {
    // A used or expired link answers the same whatever the form holds.
    if !plausible_token(&token) || !db::setup_tokens::is_usable(&state.db, &crypto::digest(&token), state.now()).await?
    {
        return Err(AppError::SetupLinkUnavailable);
    }
    let username = form.username.trim().to_owned();
    let created = owner::create_owner(
        &state,
        &meta.audit(&username),
        &username,
        Secret::new(form.password),
        Secret::new(form.confirm),
        Some(&crypto::digest(&token)),
    )
    .await;
    let account_id = match created {
        Ok(id) => id,
        Err(OwnerError::Invalid(message)) => {
            let page = SetupPage { nav: Nav::anonymous(), username, error: Some(message) };
            return Ok((StatusCode::BAD_REQUEST, super::headers::NO_STORE, page).into_response());
        }
        Err(OwnerError::TokenUnusable) => return Err(AppError::SetupLinkUnavailable),
        Err(OwnerError::Other(e)) => return Err(e),
    };
    let token = session::start(&state.db, account_id, &state.config, state.now()).await?;
    let cookie = session::set_cookie(&token, state.is_https(), state.config.session_absolute_secs)?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin/security?welcome=1")).into_response())
}
