//! Helpers for error messages a site administrator can read: an error with
//! its causes on one line, and a short excerpt of an upstream answer (an HTML
//! error page, say). Plain Rust, outside the checked ABI.

/// An error and its causes on one line (`a: b: c`); a cause whose text the
/// message already contains is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of a response body for a message: markup tags dropped, white
/// space collapsed, at most 200 characters (`...` when cut).
pub fn body_excerpt(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if in_tag => {}
            _ => text.push(c),
        }
    }
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.is_empty() {
        return "(empty body)".to_string();
    }
    match joined.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_page_keeps_its_text() {
        let page = "<html><body><h1>500 Internal Server Error</h1>\n<p>Oops</p></body></html>";
        assert_eq!(body_excerpt(page), "500 Internal Server Error Oops");
    }

    #[test]
    fn an_empty_body_is_named() {
        assert_eq!(body_excerpt(" \n"), "(empty body)");
    }

    #[test]
    fn a_long_body_is_cut_at_200_characters() {
        let excerpt = body_excerpt(&"é".repeat(500));
        assert_eq!(excerpt.chars().count(), 203);
        assert!(excerpt.ends_with("..."));
    }

    #[test]
    fn causes_follow_the_error_unless_already_said() {
        let io = std::io::Error::other("connection refused");
        assert_eq!(error_chain(&io), "connection refused");
    }
}
