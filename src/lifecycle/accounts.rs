//! Disabling and enabling a teammate's portal account. IAM is not touched:
//! the teammate's own key keeps working (deactivate it separately). A
//! disabled account cannot sign in or enrol, and its sessions end at once.

use super::{require_present, teammate};
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::AuditAction;
use crate::error::AppError;
use crate::state::AppState;

/// Disables (`enabled = false`) or enables the portal account. Returns how
/// many sessions were ended.
pub async fn set_enabled(state: &AppState, ctx: &AuditContext, name: &str, enabled: bool) -> Result<u64, AppError> {
    let t = teammate(state, name).await?;
    require_present(&t)?;
    let account_id =
        t.account_id.ok_or_else(|| AppError::Internal(anyhow::anyhow!("teammate {name} has no portal account")))?;
    if enabled == t.account_disabled_at.is_none() {
        let state_word = if enabled { "enabled" } else { "disabled" };
        return Err(AppError::Conflict(format!("{name}'s portal account is already {state_word}.")));
    }
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let mut ended = 0;
    let event = if enabled {
        db::accounts::set_disabled(&mut *tx, account_id, None).await?;
        Event::success(AuditAction::TeammateEnabled, name)
    } else {
        db::accounts::set_disabled(&mut *tx, account_id, Some(now)).await?;
        // SECURITY: a disabled account's sessions end now, not at their expiry.
        ended = db::sessions::delete_for_account(&mut *tx, account_id).await?;
        // Its pending portal-account links could only be used up in vain (links with a key stay:
        // IAM is not touched, and the teammate may still need the key).
        let revoked = db::secret_links::revoke_open_account_links(&mut *tx, t.id, "account disabled", now).await?;
        super::links::record_revoked(&mut tx, ctx, name, &revoked, "account disabled", now).await?;
        Event::success(AuditAction::TeammateDisabled, name)
            .with_detail(serde_json::json!({ "sessions_ended": ended, "links_revoked": revoked.len() }))
    };
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    Ok(ended)
}
