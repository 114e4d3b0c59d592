//! The web console's built files (`web/dist`), served on the public port at `/` when a console directory is
//! configured (`SWITCHBOARD_CONSOLE_DIR`), so a browser needs no second server.
//!
//! - Only GET and HEAD of paths that are not the API's: never `/v1/…`, gRPC method paths, `/openapi.json`,
//!   `/.well-known/…` or `/mcp`, so a console file can never shadow an API route (those keep their own 404s).
//! - `/assets/…` are Vite's content-hashed files: cached for a year, immutable. Every other file (`index.html`,
//!   the service worker, the manifest) must be revalidated (`no-cache`), so a new release is picked up at once.
//! - A path with no file extension that matches no file is a client-side route (`/runs/…`, `/oauth/callback`):
//!   it gets `index.html`. A missing file with an extension is a plain 404.
//! - Precompressed `.br` / `.gz` siblings, when the build wrote them, are sent to clients that accept them.
//! - Every answer carries a strict Content-Security-Policy (scripts, styles and connections from this origin only;
//!   no inline script; no framing) and `nosniff`.
//!
//! The files are read from disk on each request through tower-http's `ServeDir` (which refuses `..` and symlinked
//! escapes are the operator's directory to keep clean); the edge counts console requests in an allowance of their
//! own per client, so loading the console does not use up the client's login allowance.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use axum::body::Body;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// The console's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

/// Hashed build output: cached for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else: revalidated on each use.
const REVALIDATE: &str = "no-cache";

/// The console's files.
#[derive(Clone, Debug)]
pub struct Console {
    dir: PathBuf,
}

impl Console {
    /// The console built into `dir` (which must hold `index.html`); the error says what to do.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let index = dir.join("index.html");
        if !index.is_file() {
            return Err(format!(
                "the console directory {} has no index.html: build the console first (npm ci && npm run build in web/)",
                dir.display()
            ));
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// Serves one console request (see [`is_console_request`]).
    pub(crate) async fn serve(&self, request: Request<Body>) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let spa_route = !path.starts_with("/assets/") && !last_segment(&path).contains('.');
        let files =
            ServeDir::new(&self.dir).precompressed_br().precompressed_gzip().append_index_html_on_directories(true);
        let answer: Result<Response<_>, Infallible> = if spa_route {
            let index = ServeFile::new(self.dir.join("index.html")).precompressed_br().precompressed_gzip();
            files.fallback(index).oneshot(request).await
        } else {
            files.oneshot(request).await
        };
        let mut response = match answer {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        let cache =
            if path.starts_with("/assets/") && response.status() == StatusCode::OK { IMMUTABLE } else { REVALIDATE };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// Whether a request is the console's to answer: GET or HEAD of a path outside the API's namespaces.
pub(crate) fn is_console_request(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && path.starts_with('/')
        && path != "/v1"
        && !path.starts_with("/v1/")
        && path != "/mcp"
        && !path.starts_with("/mcp/")
        && !path.starts_with("/.well-known/")
        && path != "/openapi.json"
        && !crate::edge::is_grpc_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_index_html_is_refused_with_what_to_do() {
        let empty = tempfile::tempdir().unwrap();
        let error = Console::open(&empty.path().join("dist")).unwrap_err();
        assert!(error.contains("no index.html") && error.contains("npm run build"), "{error}");
        std::fs::write(empty.path().join("index.html"), "<!doctype html>").unwrap();
        assert!(Console::open(empty.path()).is_ok());
    }

    #[test]
    fn console_paths_never_include_the_apis() {
        for path in ["/", "/index.html", "/assets/index-3f2a.js", "/runs/abc", "/oauth/callback", "/sw.js"] {
            assert!(is_console_request(&Method::GET, path), "{path}");
            assert!(is_console_request(&Method::HEAD, path), "{path}");
        }
        for path in [
            "/v1",
            "/v1/connections",
            "/v1/auth:login",
            "/openapi.json",
            "/.well-known/jwks.json",
            "/mcp",
            "/switchboard.auth.v1.AuthService/Login",
            "/grpc.health.v1.Health/Check",
        ] {
            assert!(!is_console_request(&Method::GET, path), "{path}");
        }
        assert!(!is_console_request(&Method::POST, "/"));
        assert!(!is_console_request(&Method::DELETE, "/index.html"));
    }
}
