//! The rendered-content budget of one bundle: how many objects, how large each, how large all
//! together (the `limits` of the agent config: `maxObjects`, `maxObjectBytes`,
//! `maxRenderedBytes`). Signed content is not trusted to be small: a publisher's mistake or a
//! stolen key must not make the agent exceed its memory limit.
//!
//! Checked file by file while rendering, so a bundle over the budget is refused after the
//! file that crosses it, before the next is read.

use ferry_bundle::Limits;
use serde_json::Value;
use thiserror::Error;

/// A bundle over its rendering budget.
#[derive(Debug, Error)]
pub enum BudgetError {
    #[error("{file}: the bundle renders to more than {max} objects (limits.maxObjects)")]
    TooManyObjects { file: String, max: usize },
    #[error(
        "{file}: object #{index} is {size} bytes as JSON, above {max} (limits.maxObjectBytes)"
    )]
    ObjectTooLarge {
        file: String,
        index: usize,
        size: u64,
        max: u64,
    },
    #[error("{file}: the rendered objects total more than {max} bytes as JSON (limits.maxRenderedBytes)")]
    TooLarge { file: String, max: u64 },
}

/// What one bundle has rendered so far.
pub struct RenderBudget {
    limits: Limits,
    objects: usize,
    bytes: u64,
}

impl RenderBudget {
    pub fn new(limits: &Limits) -> Self {
        RenderBudget {
            limits: *limits,
            objects: 0,
            bytes: 0,
        }
    }

    /// Counts the objects one file rendered to, refusing when the budget is crossed.
    pub fn admit<'a>(
        &mut self,
        file: &str,
        objects: impl IntoIterator<Item = &'a Value>,
    ) -> Result<(), BudgetError> {
        let file = ferry_bundle::text::shown(file);
        for (index, value) in objects.into_iter().enumerate() {
            self.objects += 1;
            if self.objects > self.limits.max_objects {
                return Err(BudgetError::TooManyObjects {
                    file,
                    max: self.limits.max_objects,
                });
            }
            let size = json_size(value);
            if size > self.limits.max_object_bytes {
                return Err(BudgetError::ObjectTooLarge {
                    file,
                    index,
                    size,
                    max: self.limits.max_object_bytes,
                });
            }
            self.bytes = self.bytes.saturating_add(size);
            if self.bytes > self.limits.max_rendered_bytes {
                return Err(BudgetError::TooLarge {
                    file,
                    max: self.limits.max_rendered_bytes,
                });
            }
        }
        Ok(())
    }
}

/// The size of `value` serialized as JSON, counted without building the text.
fn json_size(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_objects_sizes_and_totals() {
        let limits = Limits {
            max_objects: 2,
            max_object_bytes: 20,
            max_rendered_bytes: 30,
            ..Limits::default()
        };
        let small = serde_json::json!({"a": 1});
        let mut b = RenderBudget::new(&limits);
        b.admit("f", [&small, &small]).unwrap();
        assert!(matches!(
            b.admit("g", [&small]),
            Err(BudgetError::TooManyObjects { max: 2, .. })
        ));
        let big = serde_json::json!({"a": "x".repeat(100)});
        assert!(matches!(
            RenderBudget::new(&limits).admit("f", [&big]),
            Err(BudgetError::ObjectTooLarge { .. })
        ));
        let mid = serde_json::json!({"a": "x".repeat(10)});
        assert!(matches!(
            RenderBudget::new(&limits).admit("f", [&mid, &mid]),
            Err(BudgetError::TooLarge { max: 30, .. })
        ));
        let unlimited = Limits {
            max_objects: usize::MAX,
            max_object_bytes: u64::MAX,
            max_rendered_bytes: u64::MAX,
            ..Limits::default()
        };
        RenderBudget::new(&unlimited)
            .admit("f", [&big, &big])
            .unwrap();
    }
}
