//! E-mail to customers: through SMTP when `mail.smtp_url` is set, otherwise
//! written as `.eml` files into a folder (by default `ordo-data/mail/`), so
//! a newcomer can open what Ordo would have sent.
//!
//! Sending is at least once (a job may run again after a crash); every
//! message has a Message-ID derived from what it is about, so a receiving
//! system can drop duplicates.

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailSettings {
    Smtp { url: String, from: String },
    Files { dir: PathBuf, from: String },
}

/// Sends e-mail.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Files(_, dir) => format!("files in {}", dir.display()),
        };
        f.debug_struct("Mailer").field("transport", &kind).field("from", &self.from.to_string()).finish()
    }
}

/// Why mail could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(String);

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let (transport, from) = match settings {
            MailSettings::Smtp { url, from } => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|_| MailError("invalid mail.smtp_url".into()))?
                    .build();
                (Transport::Smtp(transport), from)
            }
            MailSettings::Files { dir, from } => {
                (Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(dir), dir.clone()), from)
            }
        };
        let from = from.parse().map_err(|e| MailError(format!("invalid mail.from: {e}")))?;
        Ok(Self { transport, from })
    }

    /// Sends a plain-text message to `to`, with a Message-ID built from `key`.
    pub async fn send(&self, to: &str, subject: &str, body: String, key: &str) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|e| MailError(format!("invalid recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{key}@ordo>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError(format!("cannot build the message: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| MailError(format!("SMTP: {e}"))),
            Transport::Files(files, dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| MailError(format!("{}: {e}", dir.display())))?;
                files.send(message).await.map(|_| ()).map_err(|e| MailError(format!("writing the message: {e}")))
            }
        }
    }
}
