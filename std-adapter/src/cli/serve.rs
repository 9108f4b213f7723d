//! `picoxmpp serve` and `picoxmpp adduser`: the built-in server
//! ([`crate::server`]) from the shell.

use super::commands::password;
use super::failure::{Failure, EXIT_CONNECTION};
use super::{usage, Cli, Command};
use crate::server::{AccountStore, ServeConfig, TlsIdentity};
use clap::error::ErrorKind;

/// `serve`: loads the accounts, sets up TLS, listens until killed.
pub(super) fn serve(cli: &Cli) -> Result<(), Failure> {
    let Command::Serve {
        domain,
        listen,
        accounts,
        cert,
        key,
        write_cert,
        mechanisms,
    } = &cli.command
    else {
        return Ok(());
    };
    let store = AccountStore::load(accounts)
        .map_err(|e| usage(ErrorKind::InvalidValue, format!("--accounts: {e}")))?;
    let tls = match (cert, key) {
        (Some(c), Some(k)) => TlsIdentity::from_pem_files(c, k)
            .map_err(|e| usage(ErrorKind::InvalidValue, format!("--cert/--key: {e}")))?,
        (None, None) => TlsIdentity::self_signed(domain)
            .map_err(|e| Failure::exit(EXIT_CONNECTION, format!("self-signed certificate: {e}")))?,
        _ => {
            return Err(usage(
                ErrorKind::MissingRequiredArgument,
                "--cert and --key go together",
            ))
        }
    };
    if let Some(path) = write_cert {
        std::fs::write(path, tls.cert_pem()).map_err(|e| {
            usage(
                ErrorKind::Io,
                format!("--write-cert {}: {e}", path.display()),
            )
        })?;
    }
    let mut config = ServeConfig::new(domain, store, tls);
    config.log = cli.verbose;
    config.mechanisms = mechanisms.clone();
    let running = config
        .bind(listen.as_str())
        .map_err(|e| Failure::exit(EXIT_CONNECTION, format!("cannot listen on {listen}: {e}")))?;
    eprintln!(
        "picoxmpp: serving {domain} on {} (STARTTLS required; a development server: for production use Prosody or ejabberd)",
        running.local_addr()
    );
    running.wait();
    Ok(())
}

/// `adduser`: adds or replaces an account in the accounts file, with the
/// password from PICOXMPP_PASSWORD or --password-file.
pub(super) fn adduser(cli: &Cli) -> Result<(), Failure> {
    let Command::Adduser {
        accounts,
        user,
        iterations,
    } = &cli.command
    else {
        return Ok(());
    };
    let password = password(cli)?;
    let mut store = if accounts.exists() {
        AccountStore::load(accounts)
            .map_err(|e| usage(ErrorKind::InvalidValue, format!("--accounts: {e}")))?
    } else {
        AccountStore::new()
    };
    store
        .add(user, &password, *iterations)
        .map_err(|e| usage(ErrorKind::InvalidValue, e))?;
    store
        .save(accounts)
        .map_err(|e| usage(ErrorKind::Io, format!("{}: {e}", accounts.display())))?;
    eprintln!("picoxmpp: {user} saved in {}", accounts.display());
    Ok(())
}
