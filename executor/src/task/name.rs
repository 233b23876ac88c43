//! `TaskName`: a task's human-readable name, cheap to clone.
//!
//! A `&'static str` name costs nothing to store or clone; an owned `String` is turned
//! into an `Arc<str>` once, and every clone after that is a reference-count bump. The
//! task tracker keeps one copy in its live-task table and one in the task itself (for
//! the trace recorder), so cloning must stay cheap.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A task's name: a static string, or a shared owned one.
///
/// ```
/// use taskweave_executor::task::TaskName;
///
/// let fixed = TaskName::from("fetch");
/// let built = TaskName::from(format!("fetch-{}", 7));
/// assert_eq!(fixed.as_str(), "fetch");
/// assert_eq!(&*built, "fetch-7");
/// assert_eq!(built.clone(), "fetch-7");
/// ```
#[derive(Clone)]
pub struct TaskName(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl TaskName {
    /// A name from a static string (no allocation).
    pub const fn new_static(name: &'static str) -> TaskName {
        TaskName(Repr::Static(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Deref for TaskName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TaskName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for TaskName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for TaskName {
    fn from(name: &'static str) -> TaskName {
        TaskName::new_static(name)
    }
}

impl From<String> for TaskName {
    fn from(name: String) -> TaskName {
        TaskName(Repr::Shared(name.into()))
    }
}

impl From<Arc<str>> for TaskName {
    fn from(name: Arc<str>) -> TaskName {
        TaskName(Repr::Shared(name))
    }
}

impl From<Cow<'static, str>> for TaskName {
    fn from(name: Cow<'static, str>) -> TaskName {
        match name {
            Cow::Borrowed(s) => TaskName::new_static(s),
            Cow::Owned(s) => TaskName::from(s),
        }
    }
}

impl PartialEq for TaskName {
    fn eq(&self, other: &TaskName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TaskName {}

impl PartialEq<str> for TaskName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TaskName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Hash for TaskName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_gives_the_same_name() {
        let names = [
            TaskName::from("io"),
            TaskName::from(String::from("io")),
            TaskName::from(Arc::<str>::from("io")),
            TaskName::from(Cow::Borrowed("io")),
            TaskName::from(Cow::<'static, str>::Owned("io".into())),
        ];
        for name in &names {
            assert_eq!(name, &names[0]);
            assert_eq!(name.as_str(), "io");
            assert_eq!(name.to_string(), "io");
            assert_eq!(format!("{name:?}"), "\"io\"");
        }
    }
}
