//! Parse-don't-validate types. A value of one of these types is valid by
//! construction, so code past the boundary never re-checks. This module
//! imports nothing else of ours.

mod audit;
mod bucket;
mod iam_user;
pub mod multipart;
mod object_key;
pub mod teammate;

pub use audit::{AuditAction, Outcome};
pub use bucket::BucketName;
pub use iam_user::IamUserName;
pub use multipart::{PartPlan, PartPlanError};
pub use object_key::{ObjectKey, ObjectKeyError, Prefix, changes_how_text_reads};
pub use teammate::{KeyFlag, TeammateStatus};
