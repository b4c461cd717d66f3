//! `/admin/uploads`: everyone's confirmed uploads, newest first, filterable
//! by teammate (`?who=`) and key prefix (`?key=`); a row whose object a later
//! upload overwrote says so.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::clock::format_utc;
use crate::db;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Nav;
use crate::web::uploads::human_size;

pub struct UploadView {
    pub id: i64,
    /// "latest", or "replaced by #N" when a later upload through the portal
    /// overwrote the object (writes with a teammate's own key are not seen).
    pub state: String,
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
    who: String,
    key: String,
}

#[derive(Deserialize, Default)]
pub struct UploadsQuery {
    #[serde(default)]
    who: String,
    #[serde(default)]
    key: String,
}

pub async fn uploads_page(
    State(state): State<AppState>,
    session: AuthSession,
    Query(query): Query<UploadsQuery>,
) -> AppResult<Response> {
    let who = query.who.trim().chars().take(64).collect::<String>();
    let key = query.key.trim().chars().take(1024).collect::<String>();
    let uploads = db::uploads::list_filtered(
        &state.db,
        Some(who.as_str()).filter(|w| !w.is_empty()),
        Some(key.as_str()).filter(|k| !k.is_empty()),
        500,
    )
    .await?
    .into_iter()
    .map(|u| UploadView {
        id: u.id,
        state: u.replaced_by.map(|n| format!("replaced by #{n}")).unwrap_or_else(|| "latest".to_owned()),
        who: u.username,
        key: u.object_key,
        size: human_size(u.size.unwrap_or(u.declared_size)),
        etag: u.etag.unwrap_or_default(),
        when: format_utc(u.completed_at.unwrap_or(u.created_at)),
    })
    .collect();
    Ok(UploadsPage { nav: Nav::of(&session), uploads, who, key }.into_response())
}
