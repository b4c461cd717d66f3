//! `/admin/bulk-add`: add many teammates at once. Names are pasted (one per
//! line, or separated by commas or spaces) or come from a CSV file (a column
//! of names, header allowed; the page's script reads the chosen file into
//! the CSV field, which can also be pasted into). Every name is checked
//! first; then they are provisioned a few at a time, and the results —
//! with one one-time link per teammate — are shown once (`no-store`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::clock::format_utc;
use crate::error::AppResult;
use crate::lifecycle::bulk::{self, Invalid, Outcome};
use crate::state::AppState;
use crate::web::Nav;
use crate::web::extract::Form;
use crate::web::headers::NO_STORE;
use crate::web::meta::ClientMeta;

pub struct ResultView {
    pub name: String,
    /// "added", "skipped" or "failed".
    pub outcome: &'static str,
    pub message: String,
    pub link: String,
    pub expires: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/bulk_add.html")]
pub struct BulkAddPage {
    nav: Nav,
    names: String,
    csv: String,
    invalid: Vec<Invalid>,
    results: Vec<ResultView>,
    max_names: usize,
}

fn form_page(session: &AuthSession, names: String, csv: String, invalid: Vec<Invalid>) -> BulkAddPage {
    BulkAddPage { nav: Nav::of(session), names, csv, invalid, results: Vec::new(), max_names: bulk::MAX_NAMES }
}

pub async fn bulk_add_form(session: AuthSession) -> Response {
    form_page(&session, String::new(), String::new(), Vec::new()).into_response()
}

#[derive(Deserialize)]
pub struct BulkAddForm {
    #[serde(default)]
    names: String,
    #[serde(default)]
    csv: String,
}

pub async fn bulk_add(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Form(form): Form<BulkAddForm>,
) -> AppResult<Response> {
    let names = match bulk::parse_names(&form.names, &form.csv) {
        Ok(names) => names,
        Err(invalid) => {
            let page = form_page(&session, form.names, form.csv, invalid);
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let results = bulk::add_all(&state, &meta.audit(&session.username), names).await?;
    let results = results
        .into_iter()
        .map(|r| match r.outcome {
            Outcome::Added { access_key_id, link, link_expires_at, key_verified, attempts } => {
                let mut message = format!("key {access_key_id}");
                if !key_verified {
                    message.push_str(" (AWS had not confirmed the key yet: it may need a few more seconds)");
                }
                if attempts > 1 {
                    message.push_str(&format!("; IAM was busy, it took {attempts} attempts"));
                }
                ResultView {
                    name: r.name,
                    outcome: "added",
                    message,
                    link: link.expose().to_owned(),
                    expires: format_utc(link_expires_at),
                }
            }
            Outcome::Skipped(why) => ResultView {
                name: r.name,
                outcome: "skipped",
                message: why,
                link: String::new(),
                expires: String::new(),
            },
            Outcome::Failed(why) => ResultView {
                name: r.name,
                outcome: "failed",
                message: why,
                link: String::new(),
                expires: String::new(),
            },
        })
        .collect();
    let page = BulkAddPage {
        nav: Nav::of(&session),
        names: String::new(),
        csv: String::new(),
        invalid: Vec::new(),
        results,
        max_names: bulk::MAX_NAMES,
    };
    Ok((NO_STORE, page).into_response())
}
