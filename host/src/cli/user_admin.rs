//! The users-database commands: `admin-password`, `create-user`,
//! `list-users`. They act on the file directly (whoever may write it already
//! holds every account), so, unlike Python pylantir, they ask for no admin
//! login. A password is prompted for without echo on a terminal, and read
//! from the first line of stdin otherwise (for scripts).

use super::api_config::ApiConfigArgs;
use crate::audit::record::{Action, Via, Write};
use crate::audit::Audit;
use crate::http::audited::user_status;
use crate::http::users::{self, NewUser, Role, UserChanges};
use clap::Args;
use std::io::{BufRead, IsTerminal};

/// The shortest password these commands accept (Python's `admin-password` rule).
pub const MIN_PASSWORD: usize = 8;

/// Options of `admin-password`.
#[derive(Debug, Clone, Args)]
pub struct AdminPasswordArgs {
    /// The account; created as an admin when it does not exist.
    #[arg(long, default_value = "admin")]
    pub username: String,
    #[command(flatten)]
    pub config: ApiConfigArgs,
}

/// Options of `create-user`.
#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    #[arg(long)]
    pub username: String,
    /// The password (visible to other local users; prefer the prompt or stdin).
    #[arg(long)]
    pub password: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long = "full-name")]
    pub full_name: Option<String>,
    /// admin, write or read.
    #[arg(long, default_value = "read", value_parser = ["admin", "write", "read"])]
    pub role: String,
    #[command(flatten)]
    pub config: ApiConfigArgs,
}

/// Options of `list-users`.
#[derive(Debug, Clone, Args)]
pub struct ListUsersArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ApiConfigArgs,
}

/// A new password: prompted twice on a terminal, else the first stdin line.
fn read_password(prompt: &str) -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Confirm: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords do not match".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        ));
    }
    Ok(password)
}

fn open(config: &ApiConfigArgs) -> Result<(rusqlite::Connection, std::path::PathBuf), String> {
    let settings = config.settings()?;
    let conn = users::open(&settings.users_db)
        .map_err(|e| format!("users database {}: {e}", settings.users_db.display()))?;
    Ok((conn, settings.users_db))
}

fn finish(result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("{message}");
            1
        }
    }
}

/// `admin-password`: sets the password of an account, creating it as an
/// admin when it does not exist (how a site makes its first admin).
pub fn admin_password(args: &AdminPasswordArgs) -> i32 {
    finish((|| {
        let (conn, path) = open(&args.config)?;
        let audit = args.config.audit()?;
        let password = read_password(&format!("New password for {}: ", args.username))?;
        let existing = users::by_name(&conn, &args.username).map_err(|e| e.to_string())?;
        match existing {
            Some((user, _)) => {
                let changes = UserChanges {
                    password: Some(password),
                    ..UserChanges::default()
                };
                let after = users::update(&conn, user.id, &changes).map_err(|e| e.to_string())?;
                let fields = vec!["password".to_string()];
                written(&audit, Action::Update, fields, Some(&user), after.as_ref());
                println!(
                    "password of {} changed in {}",
                    user.username,
                    path.display()
                );
            }
            None => {
                let new = NewUser {
                    username: args.username.clone(),
                    password,
                    email: None,
                    full_name: None,
                    role: Role::Admin,
                    created_by: None,
                };
                let created = users::create(&conn, &new).map_err(|e| e.to_string())?;
                let fields = vec!["username".into(), "password".into(), "role".into()];
                written(&audit, Action::Create, fields, None, Some(&created));
                println!("admin {} created in {}", args.username, path.display());
            }
        }
        Ok(())
    })())
}

/// `create-user`.
pub fn create_user(args: &CreateUserArgs) -> i32 {
    finish((|| {
        let (conn, path) = open(&args.config)?;
        let audit = args.config.audit()?;
        let password = match &args.password {
            Some(password) if password.chars().count() >= MIN_PASSWORD => password.clone(),
            Some(_) => {
                return Err(format!(
                    "the password must have at least {MIN_PASSWORD} characters"
                ))
            }
            None => read_password(&format!("Password for {}: ", args.username))?,
        };
        let new = NewUser {
            username: args.username.clone(),
            password,
            email: args.email.clone(),
            full_name: args.full_name.clone(),
            role: Role::from_api(&args.role).unwrap_or(Role::Read),
            created_by: None,
        };
        let user = users::create(&conn, &new).map_err(|e| e.to_string())?;
        let fields = ["username", "password", "email", "full_name", "role"];
        let fields = fields.iter().map(|f| f.to_string()).collect();
        written(&audit, Action::Create, fields, None, Some(&user));
        println!(
            "user {} created with role {} in {}",
            user.username,
            user.role.as_api(),
            path.display()
        );
        Ok(())
    })())
}

/// Records a users-database write made by this command (the operating-system
/// user is who), and writes the audit record before the command ends.
fn written(
    audit: &Audit,
    action: Action,
    fields: Vec<String>,
    before: Option<&users::User>,
    after: Option<&users::User>,
) {
    if let Some(user) = after.or(before) {
        audit.write(Write {
            via: Via::Cli,
            user: crate::audit::command_line_user(),
            address: None,
            target: "user".into(),
            action,
            id: user.username.clone(),
            fields,
            status_before: before.map(user_status),
            status_after: after.map(user_status),
            patients: Vec::new(),
        });
    }
    audit.close();
}

/// `list-users`: a table as Python prints it, or JSON.
pub fn list_users(args: &ListUsersArgs) -> i32 {
    finish((|| {
        let (conn, _) = open(&args.config)?;
        let all = users::list(&conn).map_err(|e| e.to_string())?;
        if args.json {
            let list: Vec<_> = all
                .into_iter()
                .map(crate::http::user_routes::UserResponse::from)
                .collect();
            let text = serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?;
            println!("{text}");
            return Ok(());
        }
        println!(
            "{:<5} {:<20} {:<10} {:<8} {:<25} Last Login",
            "ID", "Username", "Role", "Active", "Email"
        );
        println!("{}", "-".repeat(80));
        for user in &all {
            let last = user
                .last_login
                .as_deref()
                .map_or("Never", |t| t.get(..16).unwrap_or(t));
            println!(
                "{:<5} {:<20} {:<10} {:<8} {:<25} {last}",
                user.id,
                user.username,
                user.role.as_api(),
                if user.is_active { "True" } else { "False" },
                user.email.as_deref().unwrap_or("N/A"),
            );
        }
        println!("\nTotal users: {}", all.len());
        Ok(())
    })())
}
