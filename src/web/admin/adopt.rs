//! `/admin/adopt`: IAM users that carry the portal's upload policy but are
//! unknown to the portal (made by the runbook script, or by hand), and a
//! button to adopt each. Listing failures are shown as "IAM unavailable",
//! never as "nobody to adopt".

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::clock::format_utc;
use crate::domain::IamUserName;
use crate::error::{AppError, AppResult};
use crate::lifecycle::adopt;
use crate::state::AppState;
use crate::web::Nav;
use crate::web::extract::Form;
use crate::web::meta::ClientMeta;

pub struct CandidateView {
    pub name: String,
    pub created: String,
    pub tagged: &'static str,
    pub keys: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/adopt.html")]
pub struct AdoptPage {
    nav: Nav,
    policy: String,
    /// None: the policy does not exist yet.
    candidates: Option<Vec<CandidateView>>,
    error: Option<String>,
}

async fn page(state: &AppState, session: &AuthSession, error: Option<String>) -> AppResult<(StatusCode, AdoptPage)> {
    let policy = crate::aws::iam::policy_name(&state.config.bucket);
    let (status, candidates, error) = match adopt::candidates(state).await {
        Ok(c) => (StatusCode::OK, c, error),
        Err(e @ AppError::Upstream(..)) => (e.status(), Some(Vec::new()), Some(e.public_message())),
        Err(e) => return Err(e),
    };
    let candidates = candidates.map(|list| {
        list.into_iter()
            .map(|c| CandidateView {
                created: c.created_at.map(format_utc).unwrap_or_else(|| "unknown".to_owned()),
                tagged: match c.tagged {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "unknown",
                },
                keys: c.keys.map(|n| n.to_string()).unwrap_or_else(|| "unknown".to_owned()),
                name: c.name,
            })
            .collect()
    });
    Ok((status, AdoptPage { nav: Nav::of(session), policy, candidates, error }))
}

pub async fn adopt_page(State(state): State<AppState>, session: AuthSession) -> AppResult<Response> {
    Ok(page(&state, &session, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct AdoptForm {
    username: String,
}

pub async fn adopt_user(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Form(form): Form<AdoptForm>,
) -> AppResult<Response> {
    let name = IamUserName::parse(form.username.trim()).map_err(|e| AppError::BadRequest(e.to_string()))?;
    match adopt::adopt(&state, &meta.audit(&session.username), &name).await {
        Ok(done) => Ok(Redirect::to(&format!("/admin/teammates/{}?done=adopted", done.name)).into_response()),
        Err(e @ (AppError::Upstream(..) | AppError::Conflict(_))) => {
            let status = e.status();
            let (_, page) = page(&state, &session, Some(e.public_message())).await?;
            Ok((status, page).into_response())
        }
        Err(e) => Err(e),
    }
}
