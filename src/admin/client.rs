//! `eid admin client add|list|rotate-secret`: OpenID Connect clients (relying parties).
//!
//! Registration goes through `Provider::register_client`, exactly as the server would do it:
//! a confidential client gets a fresh 256-bit secret, shown once here and stored only as its
//! SHA-256. The provider is built from the data folder's configuration and installation
//! secrets (the same files `eid serve` uses). `list` never shows a secret or its hash.

use eid_idp::{ClientSpec, IdpError, Provider, ProviderConfig};
use eid_server::Secrets;
use eid_store::oidc::{ClientAuth, OidcClient, OidcStore as _};
use serde_json::{Value, json};

use super::{actor, now};
use crate::cli::{ClientCommand, Common};
use crate::context::open_store;
use crate::failure::{Failure, Outcome};
use crate::output;

/// Runs `eid admin client …`.
pub async fn run(common: &Common, cmd: ClientCommand) -> Outcome {
    match cmd {
        ClientCommand::Add {
            id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            scope,
            public,
            pkce_optional,
        } => {
            let spec = ClientSpec {
                client_id: id,
                name,
                confidential: !public,
                redirect_uris,
                post_logout_redirect_uris,
                scopes: parse_scopes(&scope)?,
                pkce_optional,
                id_token_alg: None,
            };
            add(common, &spec).await
        }
        ClientCommand::List => list(common).await,
        ClientCommand::RotateSecret { id } => rotate_secret(common, &id).await,
    }
}

/// Scopes are space-separated tokens of visible ASCII without `"` and `\` (RFC 6749 §3.3).
fn parse_scopes(text: &str) -> Outcome<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for s in text.split(' ').filter(|s| !s.is_empty()) {
        if !s
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(Failure::Usage(format!(
                "--scope: `{s}` is not a scope (visible ASCII without `\"` or `\\`)"
            )));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    if !text.trim().is_empty() && text.contains(|c: char| c.is_whitespace() && c != ' ') {
        return Err(Failure::Usage(
            "--scope: separate scopes with single spaces".into(),
        ));
    }
    Ok(scopes)
}

async fn add(common: &Common, spec: &ClientSpec) -> Outcome {
    if spec.pkce_optional && !spec.confidential {
        return Err(Failure::Usage(
            "--pkce-optional is only for confidential clients: a public client always uses PKCE"
                .into(),
        ));
    }
    let config = common.config()?;
    let store = open_store(&config).await?;
    if store.client(&spec.client_id).await?.is_some() {
        return Err(Failure::Refused(format!(
            "client `{}` is already registered; nothing changed",
            spec.client_id
        )));
    }
    let provider = provider(&config, store)?;
    let (client, secret) = provider
        .register_client(spec, &actor(), now(), &mut rand::rng())
        .await
        .map_err(|e| match e {
            // The id was free a moment ago: a refusal now is a bad value in the request
            // (or, rarely, a registration that raced this one, which the message names).
            IdpError::Config(why) => Failure::Usage(format!("not registered: {why}")),
            IdpError::Store(e) => Failure::from(e),
            e => Failure::Internal(e.to_string()),
        })?;
    if common.json {
        let mut view = client_json(&client);
        if let (Some(secret), Value::Object(map)) = (&secret, &mut view) {
            map.insert("client_secret".into(), json!(secret.expose()));
        }
        return output::json(&view);
    }
    println!(
        "registered {} client `{}` ({})",
        if secret.is_some() {
            "confidential"
        } else {
            "public"
        },
        client.client_id,
        client.name
    );
    println!("  redirect URIs: {}", client.redirect_uris.join(" "));
    println!("  scopes:        {}", client.scopes.join(" "));
    if let Some(secret) = secret {
        println!(
            "client secret (shown once, only its hash is kept): {}",
            secret.expose()
        );
    }
    Ok(())
}

/// The provider over the data folder's store and installation secrets, as `eid serve`
/// builds it.
fn provider(
    config: &eid_config::Config,
    store: std::sync::Arc<eid_store::AnyStore>,
) -> Outcome<Provider<eid_store::AnyStore>> {
    let secrets = Secrets::load_or_create(&config.data_dir)
        .map_err(|e| Failure::Usage(format!("the installation secrets: {e}")))?;
    let provider_config = ProviderConfig::new(&config.public_url)
        .map_err(|e| Failure::Usage(format!("server.public_url: {e}")))?;
    Provider::new(store, provider_config, secrets.kek, &secrets.subject)
        .map_err(|e| Failure::Usage(e.to_string()))
}

async fn rotate_secret(common: &Common, client_id: &str) -> Outcome {
    let config = common.config()?;
    let store = open_store(&config).await?;
    let provider = provider(&config, store)?;
    let (client, secret) = provider
        .rotate_client_secret(client_id, &actor(), now(), &mut rand::rng())
        .await
        .map_err(|e| match e {
            IdpError::Config(why) => Failure::Refused(format!("{why}; nothing changed")),
            IdpError::Store(e) => Failure::from(e),
            e => Failure::Internal(e.to_string()),
        })?;
    if common.json {
        let mut view = client_json(&client);
        if let Value::Object(map) = &mut view {
            map.insert("client_secret".into(), json!(secret.expose()));
        }
        return output::json(&view);
    }
    println!(
        "client `{}` has a new secret; the old one no longer works",
        client.client_id
    );
    println!(
        "client secret (shown once, only its hash is kept): {}",
        secret.expose()
    );
    Ok(())
}

fn client_json(c: &OidcClient) -> Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "public": matches!(c.auth, ClientAuth::Public),
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "scopes": c.scopes,
        "pkce_optional": c.pkce_optional,
        "id_token_alg": c.id_token_alg.as_str(),
        "created_at": c
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

async fn list(common: &Common) -> Outcome {
    let config = common.config()?;
    let store = open_store(&config).await?;
    let clients = store.clients().await?;
    if common.json {
        let all: Vec<Value> = clients.iter().map(client_json).collect();
        return output::json(&all);
    }
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.client_id.clone(),
                c.name.clone(),
                if matches!(c.auth, ClientAuth::Public) {
                    "public"
                } else {
                    "confidential"
                }
                .into(),
                output::yes_no(!c.pkce_optional),
                c.scopes.join(" "),
                c.redirect_uris.join(" "),
            ]
        })
        .collect();
    output::table(
        &["ID", "NAME", "TYPE", "PKCE", "SCOPES", "REDIRECT URIS"],
        &rows,
    );
    Ok(())
}

/// Registers or updates the clients of `[[oidc.clients]]` (at `eid serve` start-up) with
/// `Provider::configure_client`; an unchanged client is left as it is.
pub(crate) async fn apply_configured<S: eid_idp::Backend>(
    provider: &Provider<S>,
    clients: &[eid_config::OidcClientConfig],
) -> Outcome {
    for c in clients {
        let spec = ClientSpec {
            client_id: c.id.clone(),
            name: c.name.clone(),
            confidential: !c.public,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            scopes: c.scopes.clone(),
            pkce_optional: c.pkce_optional,
            id_token_alg: None,
        };
        provider
            .configure_client(&spec, c.secret_sha256, "system:config", now())
            .await
            .map_err(|e| match e {
                IdpError::Config(why) => Failure::Usage(format!("oidc.clients `{}`: {why}", c.id)),
                e => Failure::Internal(format!("oidc.clients `{}`: {e}", c.id)),
            })?;
    }
    Ok(())
}
