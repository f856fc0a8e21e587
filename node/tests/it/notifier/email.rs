//! E-mail notifications through a hand-written SMTP server on loopback.

use std::time::Duration;

use meridian::notifier::{NotifierConfig, OutcomeStatus, SmtpRelay};
use meridian::spec::NotificationSpec;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{WAIT, delivery, notifier, outcome};

/// A minimal SMTP server for one session: answers RCPT with `rcpt_reply`; offers STARTTLS when
/// `starttls` (and, asked for it, reports `STARTTLS` and hangs up: it has no certificate).
/// Returns its port and what it received (each DATA, or `STARTTLS`).
async fn smtp_server(rcpt_reply: &'static str, starttls: bool) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = write.write_all(b"220 test.local ESMTP\r\n").await;
        let mut data = String::new();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    let _ = tx.send(std::mem::take(&mut data)).await;
                    let _ = write.write_all(b"250 queued\r\n").await;
                } else {
                    data.push_str(&line);
                    data.push('\n');
                }
                continue;
            }
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply: &str = match verb.as_str() {
                "EHLO" if starttls => "250-test.local\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
                "EHLO" | "HELO" => "250-test.local\r\n250 8BITMIME\r\n",
                "STARTTLS" => {
                    let _ = write.write_all(b"220 ready\r\n").await;
                    let _ = tx.send("STARTTLS".into()).await;
                    break;
                }
                "MAIL" => "250 ok\r\n",
                "RCPT" => rcpt_reply,
                "DATA" => {
                    in_data = true;
                    "354 go ahead\r\n"
                }
                "QUIT" => "221 bye\r\n",
                _ => "502 not implemented\r\n",
            };
            let _ = write.write_all(reply.as_bytes()).await;
            if verb == "QUIT" {
                break;
            }
        }
    });
    (port, rx)
}

#[tokio::test]
async fn email_goes_through_the_smtp_relay() {
    let (port, mut mail) = smtp_server("250 ok\r\n", false).await;
    let url = format!("smtp://127.0.0.1:{port}");
    let relay =
        SmtpRelay::new(&url, "meridian@example.com", Duration::from_secs(10)).expect("relay");
    let (n, mut rx) = notifier(NotifierConfig::default(), Some(relay));
    let spec = NotificationSpec::Email {
        address: "ops@example.com".into(),
    };
    n.submit(delivery("e", spec)).expect("queued");
    let o = outcome(&mut rx).await;
    assert_eq!(
        (o.status, o.attempts, o.kind),
        (OutcomeStatus::Sent, 1, "email")
    );
    let data = tokio::time::timeout(WAIT, mail.recv())
        .await
        .expect("mail in time")
        .expect("mail");
    assert!(
        data.contains("Subject: [CRITICAL] web-1 / site down"),
        "{data}"
    );
    assert!(data.contains("To: ops@example.com"), "{data}");
    assert!(data.contains("State: CRITICAL (was OK)"), "{data}");
    assert!(data.contains("Event: t1:enA:alB:chC:e:CRITICAL"), "{data}");
}

#[tokio::test]
async fn a_refused_recipient_is_a_final_failure() {
    let (port, _mail) = smtp_server("550 no such user\r\n", false).await;
    let url = format!("smtp://127.0.0.1:{port}");
    let relay =
        SmtpRelay::new(&url, "meridian@example.com", Duration::from_secs(10)).expect("relay");
    let (n, mut rx) = notifier(NotifierConfig::default(), Some(relay));
    let spec = NotificationSpec::Email {
        address: "nobody@example.com".into(),
    };
    n.submit(delivery("x", spec)).expect("queued");
    let o = outcome(&mut rx).await;
    assert_eq!((o.status, o.attempts), (OutcomeStatus::Failed, 1));
    assert!(
        o.last_error
            .is_some_and(|e| e.contains("550") || e.contains("no such user"))
    );
}

#[tokio::test]
async fn starttls_is_used_when_the_relay_offers_it() {
    let (port, mut seen) = smtp_server("250 ok\r\n", true).await;
    let url = format!("smtp://127.0.0.1:{port}");
    let relay =
        SmtpRelay::new(&url, "meridian@example.com", Duration::from_secs(10)).expect("relay");
    let config = NotifierConfig {
        retry: meridian::notifier::RetryPolicy::new(1),
        ..NotifierConfig::default()
    };
    let (n, mut rx) = notifier(config, Some(relay));
    let spec = NotificationSpec::Email {
        address: "ops@example.com".into(),
    };
    n.submit(delivery("tls", spec)).expect("queued");
    let first = tokio::time::timeout(WAIT, seen.recv())
        .await
        .expect("in time");
    assert_eq!(
        first.as_deref(),
        Some("STARTTLS"),
        "the client went on in plain text"
    );
    // The relay hung up instead of a handshake: the message was never sent in the clear.
    let o = outcome(&mut rx).await;
    assert_eq!(o.status, OutcomeStatus::Failed);
    assert!(seen.recv().await.is_none(), "a message arrived");
}
