//! How a file is cut into parts. S3's rules: at most 10,000 parts, every part
//! but the last at least 5 MiB, at most 5 GiB each; a single PUT at most 5 GiB.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>
//!
//! The browser cuts the file with the same formula (static/src/upload.js,
//! `partSizeFor`), and the server signs each part's exact Content-Length, so
//! a part of any other size is refused by S3 itself (C12).

/// S3's limit on parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's smallest part, except the last one.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// The parts of one multipart upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub size: u64,
    pub part_size: u64,
    pub part_count: u64,
}

/// Why a file cannot be planned as a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartPlanError {
    #[error("an empty file is uploaded in one request, not in parts")]
    Empty,
    #[error("the file is larger than S3 can store in one object")]
    TooLarge,
}

impl PartPlan {
    /// Plans `size` bytes with the `preferred` part size, grown (in whole MiB)
    /// when the file would otherwise need more than 10,000 parts, and never
    /// below 5 MiB.
    pub fn new(size: u64, preferred: u64) -> Result<Self, PartPlanError> {
        if size == 0 {
            return Err(PartPlanError::Empty);
        }
        let for_count = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        let part_size = preferred.max(MIN_PART_BYTES).max(for_count);
        if part_size > MAX_PART_BYTES {
            return Err(PartPlanError::TooLarge);
        }
        let part_count = size.div_ceil(part_size);
        Ok(Self { size, part_size, part_count })
    }

    /// The exact length of part `number` (1-based), or `None` outside 1..=part_count.
    pub fn part_length(&self, number: u64) -> Option<u64> {
        if number == 0 || number > self.part_count {
            return None;
        }
        let start = (number - 1) * self.part_size;
        Some((self.size - start).min(self.part_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;

    #[test]
    fn a_12_mb_file_with_a_5_000_000_byte_preference_gets_5_mib_parts() {
        // C12: the preference is below S3's minimum, so it is raised.
        let plan = PartPlan::new(12_000_000, 5_000_000).unwrap();
        assert_eq!(plan.part_size, MIN_PART_BYTES);
        assert_eq!(plan.part_count, 3);
        assert_eq!(plan.part_length(1), Some(MIN_PART_BYTES));
        assert_eq!(plan.part_length(2), Some(MIN_PART_BYTES));
        assert_eq!(plan.part_length(3), Some(12_000_000 - 2 * MIN_PART_BYTES));
        assert_eq!(plan.part_length(0), None);
        assert_eq!(plan.part_length(4), None);
    }

    #[test]
    fn the_part_size_grows_so_no_upload_needs_more_than_10_000_parts() {
        for size in [6 * GIB, 40 * GIB, 1024 * GIB, 5 * 1024 * GIB, 50_000 * MIB + 1, 160 * GIB + 7] {
            let plan = PartPlan::new(size, 16 * MIB).unwrap();
            assert!(plan.part_count <= MAX_PARTS, "{size}: {plan:?}");
            assert!(plan.part_size >= MIN_PART_BYTES, "{size}: {plan:?}");
            assert!(plan.part_size <= MAX_PART_BYTES, "{size}: {plan:?}");
            let total: u64 = (1..=plan.part_count).map(|n| plan.part_length(n).unwrap()).sum();
            assert_eq!(total, size, "{size}");
            // Every part but the last is full-sized (so ≥ 5 MiB).
            for n in 1..plan.part_count {
                assert_eq!(plan.part_length(n), Some(plan.part_size));
            }
        }
    }

    #[test]
    fn a_6_gb_file_is_cut_into_parts_none_above_5_gib() {
        // C14: 6 GB never goes in one PUT; with the default preference it is ~358 parts.
        let plan = PartPlan::new(6_000_000_000, 16 * MIB).unwrap();
        assert_eq!(plan.part_size, 16 * MIB);
        assert_eq!(plan.part_count, 358);
    }

    #[test]
    fn empty_and_oversized_files_cannot_be_planned() {
        assert_eq!(PartPlan::new(0, 16 * MIB), Err(PartPlanError::Empty));
        assert_eq!(PartPlan::new(MAX_PARTS * MAX_PART_BYTES + 1, 16 * MIB), Err(PartPlanError::TooLarge));
    }
}
