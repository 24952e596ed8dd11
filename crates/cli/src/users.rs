//! `cairn users ...`: user administration from the command line.

use crate::config::StoreArgs;
use crate::first_start::{create_user, generate_password};
use clap::Subcommand;

/// The `cairn users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user and print its API key (and its password when generated).
    Create {
        /// The user's login email.
        #[arg(long)]
        email: String,
        /// The user's password (generated and printed when omitted).
        #[arg(long, env = "CAIRN_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// The display name (default: the part of the email before `@`).
        #[arg(long)]
        name: Option<String>,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs one `cairn users` subcommand.
///
/// # Errors
/// Invalid input or a store failure, as one line.
pub async fn run(cmd: UsersCommand) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Create {
            email,
            password,
            name,
            admin,
            store,
        } => {
            let email = email.trim().to_string();
            if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
                anyhow::bail!("{email:?} is not an email address: pass --email user@example.com");
            }
            if password.as_deref().is_some_and(|p| p.len() < 8) {
                anyhow::bail!("the password must have at least 8 characters");
            }
            let store = store.open().await?;
            let generated = password.is_none();
            let password = password.unwrap_or_else(generate_password);
            let name =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
            let user = create_user(&store, &name, &email, &password, admin).await?;
            println!(
                "user:     {} (id {}{})",
                user.email,
                user.id,
                if admin { ", admin" } else { "" }
            );
            if generated {
                println!("password: {password}");
            }
            println!("API key:  {}", user.api_key);
            Ok(())
        }
    }
}
