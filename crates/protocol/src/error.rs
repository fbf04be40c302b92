//! The protocol layer's errors: data that cannot be encoded or parsed.

/// Why protocol data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A to-be-signed structure whose enrollment fields do not match its order kind (an
    /// `enrollSign` order needs them; every other kind must not have them).
    #[error("the to-be-signed structure of a `{kind}` order {problem}")]
    TbsInconsistent {
        /// The order kind's wire name.
        kind: &'static str,
        /// What is wrong, in words.
        problem: &'static str,
    },
    /// A to-be-signed field that is empty, malformed or too long to encode.
    #[error("the to-be-signed field `{field}` is not usable: {problem}")]
    TbsField {
        /// The field's name.
        field: &'static str,
        /// What is wrong, in words.
        problem: &'static str,
    },
    /// A launch link that is not `eid:///?autostarttoken=<token>` with a well-formed token.
    #[error("not an eID launch link: {0}")]
    LaunchLink(&'static str),
}
