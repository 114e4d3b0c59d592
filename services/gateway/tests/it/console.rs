//! The web console's files on the public port: content types, caching (hashed assets for a year, the rest
//! revalidated), the SPA fallback that never shadows the API, and the Content-Security-Policy.

use switchboard_test_support::{TestDb, TestOptions, TestPlatform};

use crate::http::{dechunk, exchange, header};

fn get(addr: &str, path: &str, extra: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n{extra}connection: close\r\n\r\n");
    let (code, headers, body) = exchange(addr, request.as_bytes());
    let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
    (code, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_beside_the_api_without_shadowing_it() {
    let dist = tempfile::tempdir().unwrap();
    let index = "<!doctype html><title>Switchboard</title><script type=module src=/assets/index-AbC123.js></script>";
    std::fs::write(dist.path().join("index.html"), index).unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("assets/index-AbC123.js"), "console.log('switchboard')").unwrap();
    std::fs::write(dist.path().join("assets/index-AbC123.js.gz"), b"\x1f\x8b not really").unwrap();
    std::fs::write(dist.path().join("sw.js"), "self.addEventListener('fetch', () => {})").unwrap();
    std::fs::write(dist.path().join("manifest.webmanifest"), "{\"name\":\"Switchboard\"}").unwrap();
    let options =
        TestOptions { args: vec!["--console-dir".into(), dist.path().display().to_string()], ..TestOptions::default() };
    let platform = TestPlatform::start_with(TestDb::Sqlite, options).await;
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        let (code, headers, body) = get(&addr, "/", "");
        assert_eq!(code, 200);
        assert_eq!(body, index.as_bytes());
        assert!(header(&headers, "content-type").unwrap().starts_with("text/html"), "{headers:?}");
        assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
        let csp = header(&headers, "content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));

        let (code, headers, body) = get(&addr, "/assets/index-AbC123.js", "");
        assert_eq!((code, body.as_slice()), (200, b"console.log('switchboard')".as_slice()));
        assert!(header(&headers, "content-type").unwrap().contains("javascript"), "{headers:?}");
        assert_eq!(header(&headers, "cache-control"), Some("public, max-age=31536000, immutable"));
        let (code, headers, body) = get(&addr, "/assets/index-AbC123.js", "accept-encoding: gzip\r\n");
        assert_eq!((code, header(&headers, "content-encoding")), (200, Some("gzip")), "the precompressed file");
        assert!(body.starts_with(b"\x1f\x8b"));

        for (path, kind) in [("/sw.js", "javascript"), ("/manifest.webmanifest", "manifest")] {
            let (code, headers, _) = get(&addr, path, "");
            assert_eq!(code, 200, "{path}");
            assert!(header(&headers, "content-type").unwrap().contains(kind), "{path}: {headers:?}");
            assert_eq!(header(&headers, "cache-control"), Some("no-cache"), "{path}");
        }

        // Client-side routes get the shell; missing files do not.
        for route in ["/runs/0195f2b0-0000-7000-8000-000000000000", "/oauth/callback?code=x&state=y", "/settings"] {
            let (code, _, body) = get(&addr, route, "");
            assert_eq!((code, body.as_slice()), (200, index.as_bytes()), "{route}");
        }
        let (code, headers, _) = get(&addr, "/assets/gone-123.js", "");
        assert_eq!(code, 404, "{headers:?}");
        assert_ne!(header(&headers, "cache-control"), Some("public, max-age=31536000, immutable"));
        let (code, _, _) = get(&addr, "/favicon.ico", "");
        assert_eq!(code, 404);
        // Dot segments never leave the directory: at most the shell comes back, never the file.
        for escape in ["/../../etc/passwd", "/assets/../../../../etc/hostname", "/%2e%2e/%2e%2e/etc/passwd"] {
            let (code, _, body) = get(&addr, escape, "");
            assert!(code == 400 || code == 404 || (code == 200 && body == index.as_bytes()), "{escape}: {code}");
        }

        // The API keeps its own answers.
        let (code, headers, body) = get(&addr, "/v1/nothing-here", "");
        assert_eq!(code, 404);
        assert!(header(&headers, "content-type").unwrap().starts_with("application/json"), "{headers:?}");
        assert!(String::from_utf8_lossy(&body).contains("see /openapi.json"));
        let (code, _, body) = get(&addr, "/v1/auth/me", "");
        assert_eq!(code, 401, "{}", String::from_utf8_lossy(&body));
        let (code, headers, _) = get(&addr, "/openapi.json", "");
        assert_eq!(code, 200);
        assert!(header(&headers, "content-type").unwrap().starts_with("application/json"));
        let (code, _, _) = get(&addr, "/.well-known/jwks.json", "");
        assert_eq!(code, 200);
        let (code, headers, _) = get(&addr, "/switchboard.auth.v1.AuthService/WhoAmI", "");
        assert_ne!(code, 200, "a gRPC path is never a console file: {headers:?}");
        let post = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let (code, _, _) = exchange(&addr, post);
        assert_eq!(code, 404, "only GET and HEAD reach the console");
    })
    .await
    .unwrap();
    platform.stop().await;
}
