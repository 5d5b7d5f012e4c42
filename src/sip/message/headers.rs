//! An ordered list of header fields, with lookup by name.
use super::HeaderName;

/// One header field line (after unfolding). `value` is the text after the colon with surrounding
/// whitespace removed; several comma-separated values may share one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: String,
}

/// Header fields in the order received; order matters for Via, Route and Record-Route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<Header>,
}

impl Headers {
    pub fn new() -> Self {
        Headers { entries: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        Headers { entries: Vec::with_capacity(n) }
    }

    /// Appends a field at the end.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.entries.push(Header { name, value: value.into() });
    }

    /// Inserts a field before all others (e.g. our own Via).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.entries.insert(0, Header { name, value: value.into() });
    }

    /// The first field with this name.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.entries.iter().find(|h| &h.name == name).map(|h| h.value.as_str())
    }

    /// Every field with this name, in order (each may hold several comma-separated values).
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.entries.iter().filter(move |h| &h.name == name).map(|h| h.value.as_str())
    }

    /// Replaces every field of this name by one field with `value` (kept at the first one's place).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter().position(|h| h.name == name) {
            Some(i) => {
                self.entries[i].value = value;
                let mut j = i + 1;
                while j < self.entries.len() {
                    if self.entries[j].name == name {
                        self.entries.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => self.entries.push(Header { name, value }),
        }
    }

    /// Removes every field of this name; returns how many there were.
    pub fn remove(&mut self, name: &HeaderName) -> usize {
        let before = self.entries.len();
        self.entries.retain(|h| &h.name != name);
        before - self.entries.len()
    }

    /// Removes the first field of this name and returns its value.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<String> {
        let i = self.entries.iter().position(|h| &h.name == name)?;
        Some(self.entries.remove(i).value)
    }

    pub fn contains(&self, name: &HeaderName) -> bool {
        self.entries.iter().any(|h| &h.name == name)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}
