//! Called and calling numbers in one form for matching: `sip:`/`sips:` user parts and `tel:`
//! numbers with visual separators removed (RFC 3966 §5.1.1), `+` kept for global numbers.
use crate::sip::message::Uri;

/// The number or user to match on, from a URI or a bare string typed by an operator.
pub fn normalise(input: &str) -> String {
    let trimmed = input.trim().trim_start_matches('<').trim_end_matches('>');
    match Uri::parse(trimmed) {
        Ok(Uri::Tel(t)) => t.number(),
        Ok(Uri::Sip(s)) => s.user.as_deref().map(strip_visual).unwrap_or_default(),
        _ => {
            // Not a valid URI, e.g. `tel:95555` without the phone-context RFC 3966 requires of a
            // local number: operators and some peers write it anyway. Take what sits between the
            // scheme and the parameters.
            let lower = trimmed.to_ascii_lowercase();
            let rest = ["tel:", "sips:", "sip:"].iter().find(|p| lower.starts_with(**p)).map_or(trimmed, |p| &trimmed[p.len()..]);
            let user = rest.split(['@', ';', '?']).next().unwrap_or(rest);
            strip_visual(user)
        }
    }
}

/// Removes RFC 3966 visual separators (`-`, `.`, `(`, `)`) and spaces from something that looks
/// like a phone number; a user name with letters is returned as it is.
fn strip_visual(s: &str) -> String {
    let stripped: String = s.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' ')).collect();
    let digits = stripped.strip_prefix('+').unwrap_or(&stripped);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '*' | '#')) {
        stripped
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn forms_agree() {
        assert_eq!(normalise("95555"), "95555");
        assert_eq!(normalise("sip:95555@bank.example;user=phone"), "95555");
        assert_eq!(normalise("<sip:95555@10.0.0.1:5060>"), "95555");
        assert_eq!(normalise("tel:95555;phone-context=+86"), "95555");
        assert_eq!(normalise("tel:+86-138-0013-8000"), "+8613800138000");
        assert_eq!(normalise("+86 (138) 0013.8000"), "+8613800138000");
        assert_eq!(normalise("sip:alice@example.com"), "alice");
        assert_eq!(normalise("1001"), "1001");
        assert_eq!(normalise("tel:955551"), "955551", "a local tel URI without phone-context");
        assert_eq!(normalise("sip:95555;user=phone"), "95555");
    }
}
