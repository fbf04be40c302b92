//! [`ProfileSettings`]: what an operator configures about issued certificates (URLs, policy
//! OIDs, validity), and their validation.
//!
//! ## The default policy OIDs
//!
//! The defaults live under `2.25.335355927546609564506616252023372769`, an OID formed from
//! a random UUID (`00409652-e3a3-4b13-8b1e-4199a83afbe1`) as ITU-T X.667 / ISO/IEC 9834-8
//! allow: anyone may use the `2.25` arc with a UUID they generated, without registering
//! anything, and it is unique because the UUID is. Sub-arcs: `.1.1` authentication, `.1.2`
//! signing, `.1.3` virtual card, `.1.4` card attestation key. A deployment with its own registered arc (an
//! organisation's, or SITHS's) configures that instead.

use time::Duration;

use crate::asn1::Oid;

/// The UUID arc (X.667) under which the default policy OIDs live. See the module docs.
pub const DEFAULT_POLICY_ARC: &str = "2.25.335355927546609564506616252023372769";
/// Default certificate policy of authentication certificates from real cards.
pub const DEFAULT_AUTHENTICATION_POLICY: &str = "2.25.335355927546609564506616252023372769.1.1";
/// Default certificate policy of signing certificates from real cards.
pub const DEFAULT_SIGNING_POLICY: &str = "2.25.335355927546609564506616252023372769.1.2";
/// Default certificate policy of every certificate for a virtual card.
pub const DEFAULT_VIRTUAL_CARD_POLICY: &str = "2.25.335355927546609564506616252023372769.1.3";
/// Default certificate policy of a card's attestation key certificate (slot F9), for real
/// and virtual cards alike: it describes a card key, not a person.
pub const DEFAULT_ATTESTATION_POLICY: &str = "2.25.335355927546609564506616252023372769.1.4";
/// Default validity of authentication certificates: two years.
pub const DEFAULT_AUTHENTICATION_VALIDITY: Duration = Duration::days(2 * 365);
/// Default validity of signing certificates: two years (and never beyond the card's
/// authentication certificate).
pub const DEFAULT_SIGNING_VALIDITY: Duration = Duration::days(2 * 365);
/// Default validity of a card's attestation key certificate: ten years, about a card's
/// lifetime (and never beyond the issuing CA).
pub const DEFAULT_ATTESTATION_VALIDITY: Duration = Duration::days(10 * 365);

/// What goes into every issued certificate besides the subject and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSettings {
    /// Country (`C`) of issued certificates' subjects, two upper-case letters (`SE`).
    pub country: String,
    /// URL of the issuing CA's CRL (the CRL distribution point), `http` or `https`.
    pub crl_url: String,
    /// URL of the OCSP responder (authorityInfoAccess `id-ad-ocsp`), `http` or `https`.
    pub ocsp_url: String,
    /// URL where the issuing CA certificate can be fetched (authorityInfoAccess
    /// `id-ad-caIssuers`), if published.
    pub ca_issuers_url: Option<String>,
    /// Certificate policy OID (dotted) of authentication certificates on real cards.
    pub authentication_policy: String,
    /// Certificate policy OID (dotted) of signing certificates on real cards.
    pub signing_policy: String,
    /// Certificate policy OID (dotted) of all certificates on virtual cards. Such
    /// certificates carry this OID *only*, so no relying party mistakes them for real-card
    /// certificates.
    pub virtual_card_policy: String,
    /// Certificate policy OID (dotted) of card attestation key certificates (slot F9), on
    /// real and virtual cards alike. Distinct from the other three: such a certificate
    /// certifies a card's key, never a person.
    pub attestation_policy: String,
    /// How long an authentication certificate is valid (bounded by the issuing CA).
    pub authentication_validity: Duration,
    /// How long a signing certificate is valid (bounded by the issuing CA and by the card's
    /// authentication certificate).
    pub signing_validity: Duration,
    /// How long a card's attestation key certificate is valid (bounded by the issuing CA).
    pub attestation_validity: Duration,
}

impl ProfileSettings {
    /// Settings with the given CRL and OCSP URLs and the defaults for everything else:
    /// country `SE`, the policy OIDs under [`DEFAULT_POLICY_ARC`], two years validity for
    /// authentication and signing certificates, ten for card attestation certificates.
    pub fn new(crl_url: impl Into<String>, ocsp_url: impl Into<String>) -> Self {
        Self {
            country: "SE".into(),
            crl_url: crl_url.into(),
            ocsp_url: ocsp_url.into(),
            ca_issuers_url: None,
            authentication_policy: DEFAULT_AUTHENTICATION_POLICY.into(),
            signing_policy: DEFAULT_SIGNING_POLICY.into(),
            virtual_card_policy: DEFAULT_VIRTUAL_CARD_POLICY.into(),
            attestation_policy: DEFAULT_ATTESTATION_POLICY.into(),
            authentication_validity: DEFAULT_AUTHENTICATION_VALIDITY,
            signing_validity: DEFAULT_SIGNING_VALIDITY,
            attestation_validity: DEFAULT_ATTESTATION_VALIDITY,
        }
    }

    /// Checks every value; the error names the setting and what is wrong with it.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.checked().map(|_| ())
    }

    /// Every bad value, one error each (empty when the settings are usable).
    pub fn problems(&self) -> Vec<SettingsError> {
        let mut found = Vec::new();
        if !is_country_code(&self.country) {
            found.push(SettingsError::Country(self.country.clone()));
        }
        let urls = [
            ("crl_url", Some(&self.crl_url)),
            ("ocsp_url", Some(&self.ocsp_url)),
            ("ca_issuers_url", self.ca_issuers_url.as_ref()),
        ];
        for (setting, url) in urls {
            if let Some(Err(e)) = url.map(|u| check_url(setting, u)) {
                found.push(e);
            }
        }
        let oids = [
            ("authentication_policy", &self.authentication_policy),
            ("signing_policy", &self.signing_policy),
            ("virtual_card_policy", &self.virtual_card_policy),
            ("attestation_policy", &self.attestation_policy),
        ];
        let [auth, sign, virt, attest] =
            oids.map(|(setting, value)| match parse_oid(setting, value) {
                Ok(oid) => Some(oid),
                Err(e) => {
                    found.push(e);
                    None
                }
            });
        let equal = |a: &Option<Oid>, b: &Option<Oid>| a.is_some() && a == b;
        if equal(&virt, &auth) || equal(&virt, &sign) {
            found.push(SettingsError::VirtualPolicyNotDistinct(
                self.virtual_card_policy.clone(),
            ));
        }
        if [&auth, &sign, &virt].into_iter().any(|p| equal(&attest, p)) {
            found.push(SettingsError::AttestationPolicyNotDistinct(
                self.attestation_policy.clone(),
            ));
        }
        for (setting, validity) in [
            ("authentication_validity", self.authentication_validity),
            ("signing_validity", self.signing_validity),
            ("attestation_validity", self.attestation_validity),
        ] {
            if validity < Duration::HOUR || validity > Duration::days(40 * 366) {
                found.push(SettingsError::Validity { setting, validity });
            }
        }
        found
    }

    /// The settings in checked, encoded form.
    pub(crate) fn checked(&self) -> Result<CheckedSettings, SettingsError> {
        if let Some(first) = self.problems().into_iter().next() {
            return Err(first);
        }
        Ok(CheckedSettings {
            authentication_policy: parse_oid("authentication_policy", &self.authentication_policy)?,
            signing_policy: parse_oid("signing_policy", &self.signing_policy)?,
            virtual_card_policy: parse_oid("virtual_card_policy", &self.virtual_card_policy)?,
            attestation_policy: parse_oid("attestation_policy", &self.attestation_policy)?,
        })
    }
}

/// The policy OIDs, parsed.
#[derive(Debug, Clone)]
pub(crate) struct CheckedSettings {
    pub(crate) authentication_policy: Oid,
    pub(crate) signing_policy: Oid,
    pub(crate) virtual_card_policy: Oid,
    pub(crate) attestation_policy: Oid,
}

/// A profile setting with a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A URL setting is not a plain `http://` or `https://` URL.
    #[error("setting `{setting}`: `{value}` is not usable: {reason}")]
    Url {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A policy setting is not a dotted object identifier.
    #[error(
        "setting `{setting}`: `{value}` is not an object identifier (like 1.2.752.29.4): {reason}"
    )]
    Oid {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The virtual-card policy equals a real card's policy: relying parties could not tell
    /// the certificates apart.
    #[error(
        "setting `virtual_card_policy`: `{0}` is also a real-card policy; virtual cards need \
         their own OID so no relying party mistakes them for real cards"
    )]
    VirtualPolicyNotDistinct(String),
    /// The card attestation policy equals another policy: a certificate of a card's
    /// attestation key could pass for a person's certificate, or the reverse.
    #[error(
        "setting `attestation_policy`: `{0}` is also the policy of another kind of \
         certificate; card attestation certificates need their own OID so no relying party \
         takes one for a person's certificate"
    )]
    AttestationPolicyNotDistinct(String),
    /// The country is not two upper-case letters.
    #[error("setting `country`: `{0}` is not a two-letter country code like SE")]
    Country(String),
    /// A validity is shorter than an hour or longer than 40 years.
    #[error("setting `{setting}`: {validity} is not a sensible certificate validity")]
    Validity {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        validity: Duration,
    },
}

impl SettingsError {
    /// The name of the setting this error is about.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::Url { setting, .. }
            | Self::Oid { setting, .. }
            | Self::Validity { setting, .. } => setting,
            Self::VirtualPolicyNotDistinct(_) => "virtual_card_policy",
            Self::AttestationPolicyNotDistinct(_) => "attestation_policy",
            Self::Country(_) => "country",
        }
    }
}

fn is_country_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn parse_oid(setting: &'static str, value: &str) -> Result<Oid, SettingsError> {
    Oid::parse(value).map_err(|reason| SettingsError::Oid {
        setting,
        value: value.to_owned(),
        reason,
    })
}

/// A URL that goes into a certificate as an IA5String: ASCII, no spaces, http(s) with a host.
pub fn check_url(setting: &'static str, value: &str) -> Result<(), SettingsError> {
    let fail = |reason| {
        Err(SettingsError::Url {
            setting,
            value: value.to_owned(),
            reason,
        })
    };
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return fail("it must be ASCII without spaces or control characters");
    }
    let Some(rest) = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
    else {
        return fail("it must start with http:// or https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return fail("it must not contain user credentials");
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return fail("its IPv6 address lacks a closing `]`");
        };
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return fail("unexpected text after the IPv6 address"),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return fail("it has no host name");
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return fail("its port is not a number from 0 to 65535");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ProfileSettings {
        ProfileSettings::new("http://ca.example/issuing.crl", "http://ca.example/ocsp")
    }

    #[test]
    fn defaults_are_valid() {
        settings().validate().unwrap();
        assert!(DEFAULT_AUTHENTICATION_POLICY.starts_with(DEFAULT_POLICY_ARC));
        assert_eq!(
            DEFAULT_ATTESTATION_POLICY,
            format!("{DEFAULT_POLICY_ARC}.1.4")
        );
        assert_eq!(settings().attestation_policy, DEFAULT_ATTESTATION_POLICY);
        assert_eq!(settings().attestation_validity, Duration::days(3650));
    }

    #[test]
    fn the_attestation_policy_is_checked_and_distinct() {
        let mut s = settings();
        s.attestation_policy = "2.25.".into();
        let err = s.validate().unwrap_err();
        assert_eq!(err.setting(), "attestation_policy");
        assert!(err.to_string().contains("attestation_policy"), "{err}");
        for other in [
            DEFAULT_AUTHENTICATION_POLICY,
            DEFAULT_SIGNING_POLICY,
            DEFAULT_VIRTUAL_CARD_POLICY,
        ] {
            let mut s = settings();
            s.attestation_policy = other.into();
            let problems = s.problems();
            assert_eq!(
                problems,
                vec![SettingsError::AttestationPolicyNotDistinct(other.into())]
            );
            assert_eq!(problems[0].setting(), "attestation_policy");
        }
        // Both clashes are reported, each under its own setting.
        let mut s = settings();
        s.virtual_card_policy = s.signing_policy.clone();
        s.attestation_policy = s.signing_policy.clone();
        let named: Vec<_> = s.problems().iter().map(SettingsError::setting).collect();
        assert_eq!(named, ["virtual_card_policy", "attestation_policy"]);
        // A bad OID elsewhere is not also reported as a clash.
        let mut s = settings();
        s.signing_policy = "x".into();
        assert_eq!(s.problems().len(), 1);

        for bad in [Duration::ZERO, Duration::days(41 * 366)] {
            let mut s = settings();
            s.attestation_validity = bad;
            let err = s.validate().unwrap_err();
            assert_eq!(err.setting(), "attestation_validity");
        }
    }

    #[test]
    fn bad_urls_are_named() {
        for bad in [
            "ftp://ca.example/crl",
            "ca.example/crl",
            "http://",
            "http:///crl",
            "http://ca example/crl",
            "http://user:pw@ca.example/",
            "http://ca.example:99999/",
            "http://ca.example:/",
            "https://cä.example/",
        ] {
            let mut s = settings();
            s.crl_url = bad.into();
            let err = s.validate().unwrap_err();
            assert!(err.to_string().contains("crl_url"), "{bad}: {err}");
        }
        for good in [
            "https://ca.example:8443/crl?x=1",
            "http://[::1]:8080/ocsp",
            "http://127.0.0.1/ocsp",
        ] {
            let mut s = settings();
            s.ocsp_url = good.into();
            s.validate().unwrap();
        }
    }

    #[test]
    fn bad_oids_and_values_are_named() {
        let mut s = settings();
        s.signing_policy = "1.2.x".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("signing_policy")
        );
        let mut s = settings();
        s.virtual_card_policy = s.authentication_policy.clone();
        assert!(matches!(
            s.validate(),
            Err(SettingsError::VirtualPolicyNotDistinct(_))
        ));
        let mut s = settings();
        s.country = "se".into();
        assert!(matches!(s.validate(), Err(SettingsError::Country(_))));
        let mut s = settings();
        s.signing_validity = Duration::ZERO;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("signing_validity")
        );
    }
}
