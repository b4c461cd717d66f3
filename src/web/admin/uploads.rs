//! `/admin/uploads`: everyone's confirmed uploads, newest first.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthSession;
use crate::clock::format_utc;
use crate::db;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Nav;
use crate::web::uploads::human_size;

pub struct UploadView {
    pub who: String,
    pub key: String,
    pub size: String,
    pub etag: String,
    pub when: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/uploads.html")]
pub struct UploadsPage {
    nav: Nav,
    uploads: Vec<UploadView>,
}

pub async fn uploads_page(State(state): State<AppState>, session: AuthSession) -> AppResult<Response> {
    let uploads = db::uploads::list_recent(&state.db, None, 500)
        .await?
        .into_iter()
        .map(|u| UploadView {
            who: u.username,
            key: u.object_key,
            size: human_size(u.size.unwrap_or(u.declared_size)),
            etag: u.etag.unwrap_or_default(),
            when: format_utc(u.completed_at.unwrap_or(u.created_at)),
        })
        .collect();
    Ok(UploadsPage { nav: Nav::of(&session), uploads }.into_response())
}
