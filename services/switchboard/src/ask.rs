//! `switchboard ask "…"`: asks the assistant in the terminal and follows the run as it streams — the plan, each
//! step, the answer as the model writes it — asking y/n before every step that waits for approval.
//!
//! It goes through the gateway's REST API as a signed-in user, like the web console, not over the mesh with the
//! operator certificate as the other client commands do: `Ask` accepts only the gateway as its mesh caller and
//! needs a person (a member or more) whose runs they are, and approvals are recorded against that person. The
//! stream is REST's NDJSON (`{"result": AskResponse}` per line, `{"error": Status}` if it fails); a stream cut
//! mid-run is re-attached with `after_sequence`, so no event is lost or shown twice.
//!
//! A run may wait for its approval longer than an access token lives (15 minutes by default): the session refreshes
//! its token once three quarters of its life have passed, before each request, and logs out when the command ends
//! (the refresh token it holds is revoked rather than left valid for days).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::config::AskArgs;

use crate::commands::CliError;

/// How often a broken stream is re-attached before giving up.
const REATTACH_ATTEMPTS: u32 = 3;

/// A user signed in through the gateway.
struct Session {
    http: reqwest::Client,
    gateway: String,
    tokens: tokio::sync::Mutex<Tokens>,
}

/// The session's tokens, as the last login or refresh gave them.
struct Tokens {
    access: String,
    refresh: String,
    /// When the access token is to be refreshed: three quarters into its life.
    refresh_at: tokio::time::Instant,
}

impl Tokens {
    /// From a LoginResponse or RefreshResponse in JSON.
    fn from_answer(body: &Value) -> Result<Self, CliError> {
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| CliError::Usage(format!("the gateway's answer has no {name}")))
        };
        let lifetime = body.get("expiresIn").and_then(Value::as_u64).unwrap_or(0);
        let refresh_at = tokio::time::Instant::now() + Duration::from_secs(lifetime) * 3 / 4;
        Ok(Self { access: field("accessToken")?, refresh: field("refreshToken")?, refresh_at })
    }
}

pub(crate) async fn ask(args: AskArgs) -> Result<ExitCode, CliError> {
    let session = Session::sign_in(&args).await?;
    let asked = ask_signed_in(&session, &args).await;
    session.log_out().await;
    asked
}

async fn ask_signed_in(session: &Session, args: &AskArgs) -> Result<ExitCode, CliError> {
    let mut follower = Follower::default();
    let mut request = json!({"question": args.question});
    let mut attempts = 0;
    loop {
        match session.follow(&request, &mut follower).await {
            Ok(Some(code)) => return Ok(code),
            Ok(None) | Err(Broken::Transport(_)) if attempts < REATTACH_ATTEMPTS && !follower.run.is_empty() => {
                attempts += 1;
                eprintln!("(the stream broke; re-attaching to {})", follower.run);
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempts))).await;
                request = json!({"run": follower.run, "afterSequence": follower.sequence.to_string()});
            }
            Ok(None) => return Err(CliError::Usage("the answer stream ended before the run finished".into())),
            Err(Broken::Transport(message) | Broken::Refused(message)) => return Err(CliError::Usage(message)),
        }
    }
}

/// Why a stream stopped early.
enum Broken {
    /// The connection failed: worth re-attaching.
    Transport(String),
    /// The platform refused: re-attaching would not help.
    Refused(String),
}

impl Session {
    async fn sign_in(args: &AskArgs) -> Result<Self, CliError> {
        // No overall timeout: the stream lasts as long as the run, approvals included.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CliError::Usage(format!("building an HTTP client: {e}")))?;
        let gateway = args.gateway_url.trim_end_matches('/').to_owned();
        let login = json!({"tenant": args.tenant, "email": args.email, "password": args.password});
        let body = post(&http, &format!("{gateway}/v1/auth:login"), None, &login).await?;
        let tokens = tokio::sync::Mutex::new(Tokens::from_answer(&body)?);
        Ok(Self { http, gateway, tokens })
    }

    /// An access token for a request about to be made, refreshed first when it is three quarters through its life
    /// (each refresh token works once: the new one replaces it).
    async fn bearer(&self) -> Result<String, CliError> {
        let mut tokens = self.tokens.lock().await;
        if tokio::time::Instant::now() >= tokens.refresh_at {
            let url = format!("{}/v1/auth:refresh", self.gateway);
            let body = post(&self.http, &url, None, &json!({"refreshToken": tokens.refresh})).await?;
            *tokens = Tokens::from_answer(&body)?;
        }
        Ok(tokens.access.clone())
    }

    /// Revokes the session. Best effort: a failure leaves a refresh token that expires on its own.
    async fn log_out(&self) {
        let refresh = self.tokens.lock().await.refresh.clone();
        let url = format!("{}/v1/auth:logout", self.gateway);
        if let Err(e) = post(&self.http, &url, None, &json!({"refreshToken": refresh})).await {
            eprintln!("(could not log out: {e})");
        }
    }

    /// Reads one Ask stream to its end. `Some(exit code)` once the run finished; `None` if the stream ended first.
    async fn follow(&self, request: &Value, follower: &mut Follower) -> Result<Option<ExitCode>, Broken> {
        let url = format!("{}/v1/orchestrator:ask", self.gateway);
        let bearer = self.bearer().await.map_err(|e| Broken::Refused(e.to_string()))?;
        let mut answer = self
            .http
            .post(&url)
            .bearer_auth(bearer)
            .header(reqwest::header::ACCEPT, "application/x-ndjson")
            .json(request)
            .send()
            .await
            .map_err(|e| Broken::Transport(format!("POST {url}: {e}")))?;
        if !answer.status().is_success() {
            let status = answer.status();
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            let message = body.get("message").and_then(Value::as_str).unwrap_or_default();
            return Err(Broken::Refused(format!("the assistant refused ({status}): {message}")));
        }
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let chunk = answer.chunk().await.map_err(|e| Broken::Transport(format!("reading the answer: {e}")))?;
            let Some(chunk) = chunk else { return Ok(None) };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                if line.trim().is_empty() {
                    continue;
                }
                let message: Value = serde_json::from_str(line.trim())
                    .map_err(|e| Broken::Refused(format!("the gateway sent a line that is not JSON: {e}")))?;
                if let Some(error) = message.get("error") {
                    let text = error.get("message").and_then(Value::as_str).unwrap_or("the stream failed");
                    return Err(Broken::Refused(format!("the assistant failed: {text}")));
                }
                let Some(event) = message.get("result") else { continue };
                if let Some(code) = self.show(event, follower).await.map_err(Broken::Refused)? {
                    return Ok(Some(code));
                }
            }
        }
    }

    /// Shows one event; asks for approval when one is needed. `Some(exit code)` after `runFinished`.
    async fn show(&self, event: &Value, follower: &mut Follower) -> Result<Option<ExitCode>, String> {
        let sequence = number(event.get("sequence"));
        if sequence <= follower.sequence {
            return Ok(None);
        }
        follower.sequence = sequence;
        if let Some(run) = event.get("run").and_then(Value::as_str) {
            follower.run = run.to_owned();
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(started) = event.get("runStarted") {
            println!("{} (model {})", follower.run, text(started.pointer("/run/model")));
        } else if let Some(plan) = event.get("plan") {
            println!("Plan: {}", text(plan.get("summary")));
            for step in plan.get("steps").and_then(Value::as_array).into_iter().flatten() {
                let approval =
                    if step.get("needsApproval") == Some(&Value::Bool(true)) { "  [needs approval]" } else { "" };
                println!(
                    "  {}. {} ({}){approval}",
                    text(step.get("id")),
                    text(step.get("description")),
                    text(step.get("tool"))
                );
            }
        } else if let Some(step) = event.get("stepStarted") {
            println!("→ step {} running: {}", text(step.get("stepId")), text(step.get("tool")));
        } else if let Some(step) = event.get("stepFinished") {
            let status = text(step.get("status"));
            let status = status.trim_start_matches("STEP_STATUS_").to_lowercase();
            let why = step.pointer("/error/message").and_then(Value::as_str).map(|m| format!(": {m}"));
            println!("  step {} {status}{}", text(step.get("stepId")), why.unwrap_or_default());
        } else if let Some(needed) = event.get("approvalNeeded") {
            self.review(needed).await?;
        } else if let Some(delta) = event.get("answerDelta") {
            if delta.get("restart") == Some(&Value::Bool(true)) && follower.streamed {
                println!("\n(the answer started over)");
            }
            print!("{}", text(delta.get("text")));
            // A failed flush only delays the text; the final answer follows anyway.
            drop(std::io::stdout().flush());
            follower.streamed = true;
        } else if let Some(answer) = event.get("answer") {
            if follower.streamed {
                println!();
            } else {
                println!("{}", text(answer.get("text")));
            }
            for (i, citation) in answer.get("citations").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let record = text(citation.get("recordId"));
                let record = if record.is_empty() { String::new() } else { format!(" ({record})") };
                println!("  [{}] {}{record}", i + 1, text(citation.get("title")));
            }
        } else if let Some(finished) = event.get("runFinished") {
            let status = text(finished.get("status"));
            if status == "RUN_STATUS_SUCCEEDED" {
                return Ok(Some(ExitCode::SUCCESS));
            }
            let why = finished.pointer("/error/message").and_then(Value::as_str).unwrap_or_default();
            eprintln!("The run ended {}: {why}", status.trim_start_matches("RUN_STATUS_").to_lowercase());
            return Ok(Some(ExitCode::FAILURE));
        }
        Ok(None)
    }

    /// Shows a step waiting for approval and approves or rejects it as the person answers.
    async fn review(&self, needed: &Value) -> Result<(), String> {
        let text = |name: &str| needed.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        println!("\nApproval needed: {}", text("description"));
        println!("  tool: {}  on {}", text("tool"), text("connection"));
        println!("  input: {}", needed.get("input").cloned().unwrap_or(Value::Null));
        let approve = tokio::task::spawn_blocking(|| {
            print!("Approve this step? [y/N] ");
            drop(std::io::stdout().flush());
            let mut line = String::new();
            // End of input (no terminal) counts as no.
            std::io::stdin().read_line(&mut line).map(|_| matches!(line.trim(), "y" | "Y" | "yes")).unwrap_or(false)
        })
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
        let step = text("step");
        let (verb, body) = if approve {
            ("approve", json!({"comment": "approved in the terminal"}))
        } else {
            ("reject", json!({"reason": "rejected in the terminal"}))
        };
        let url = format!("{}/v1/{step}:{verb}", self.gateway);
        let bearer = self.bearer().await.map_err(|e| e.to_string())?;
        post(&self.http, &url, Some(&bearer), &body).await.map_err(|e| e.to_string())?;
        println!("{}", if approve { "Approved." } else { "Rejected: nothing will be changed by this step." });
        Ok(())
    }
}

/// Where the stream is: the run, the last event shown, whether answer text was printed.
#[derive(Debug, Default)]
struct Follower {
    run: String,
    sequence: i64,
    streamed: bool,
}

/// An int64 in proto3 JSON (a string, or a number).
fn number(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// POSTs JSON to the gateway; a non-2xx answer becomes an error with the gateway's message.
async fn post(http: &reqwest::Client, url: &str, bearer: Option<&str>, body: &Value) -> Result<Value, CliError> {
    let mut request = http.post(url).timeout(Duration::from_secs(30)).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.map_err(|e| CliError::Usage(format!("POST {url}: {e}")))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body.get("message").and_then(Value::as_str).unwrap_or_default();
        return Err(CliError::Usage(format!("POST {url} answered {status}: {message}")));
    }
    Ok(body)
}
