//! `/admin/teammates`: the list, and "Add teammate".

use crate::web::extract::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::clock::format_utc;
use crate::db;
use crate::domain::IamUserName;
use crate::error::{AppError, AppResult};
use crate::provision;
use crate::state::AppState;
use crate::web::Nav;
use crate::web::headers::NO_STORE;
use crate::web::meta::ClientMeta;

pub struct TeammateView {
    pub name: String,
    pub status: String,
    pub detail: String,
    pub account: &'static str,
    pub pending_links: i64,
    pub last_upload: String,
    pub added: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/teammates.html")]
pub struct TeammatesPage {
    nav: Nav,
    teammates: Vec<TeammateView>,
    form_name: String,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    session: &AuthSession,
    form_name: String,
    error: Option<String>,
) -> AppResult<TeammatesPage> {
    let teammates = db::teammates::list(&state.db, state.now())
        .await?
        .into_iter()
        .map(|t| TeammateView {
            detail: match (&t.status[..], &t.last_error, &t.last_step) {
                ("incomplete", Some(err), _) => format!("stopped: {err} — add again to resume"),
                ("incomplete", None, Some(step)) => format!("last step done: {step}"),
                _ => String::new(),
            },
            name: t.iam_user_name,
            status: t.status,
            account: if t.has_password { "password set" } else { "not enrolled" },
            pending_links: t.pending_links,
            last_upload: t.last_upload_at.map(format_utc).unwrap_or_else(|| "never".to_owned()),
            added: format_utc(t.created_at),
        })
        .collect();
    Ok(TeammatesPage { nav: Nav::of(session), teammates, form_name, error })
}

pub async fn teammates_page(State(state): State<AppState>, session: AuthSession) -> AppResult<Response> {
    Ok(page(&state, &session, String::new(), None).await?.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/teammate_created.html")]
pub struct TeammateCreatedPage {
    nav: Nav,
    username: String,
    access_key_id: String,
    link: String,
    expires: String,
    key_verified: bool,
}

#[derive(Deserialize)]
pub struct AddTeammateForm {
    username: String,
}

pub async fn create_teammate(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Form(form): Form<AddTeammateForm>,
) -> AppResult<Response> {
    let raw = form.username.trim().to_owned();
    let name = match IamUserName::parse(&raw) {
        Ok(n) => n,
        Err(e) => {
            let page = page(&state, &session, raw, Some(e.to_string())).await?;
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    match provision::add_teammate(&state, &meta.audit(&session.username), &name).await {
        Ok(done) => {
            let page = TeammateCreatedPage {
                nav: Nav::of(&session),
                username: done.username,
                access_key_id: done.access_key_id,
                link: done.link.expose().to_owned(),
                expires: format_utc(done.link_expires_at),
                key_verified: done.key_verified,
            };
            Ok((NO_STORE, page).into_response())
        }
        Err(e @ (AppError::Upstream(..) | AppError::Conflict(_))) => {
            let status = e.status();
            let message = e.public_message();
            if let AppError::Upstream(_, source) = &e {
                tracing::warn!(error = format!("{source:#}"), "provisioning failed");
            }
            let page = page(&state, &session, raw, Some(message)).await?;
            Ok((status, page).into_response())
        }
        Err(e) => Err(e),
    }
}
