//! Every error class, as each provider answers it, read by each client (one attempt, no chain).

use std::time::Duration;

use switchboard_model_sandbox::{Api, Failure, Reply, RetryAfter};
use switchboard_models::{ApiKey, ErrorClass, ModelError, TimeoutPhase, connect};

use crate::support::{APIS, ask, start};

async fn fail_with(api: Api, reply: Reply) -> ModelError {
    let env = start().await;
    env.sandbox.script(api, reply);
    env.client(api).chat(&ask("hi")).await.expect_err("a scripted failure")
}

#[tokio::test]
async fn each_failure_maps_to_its_class() {
    let cases = [
        (Failure::RateLimited(None), ErrorClass::RateLimited),
        (Failure::QuotaExhausted, ErrorClass::QuotaExhausted),
        (Failure::Status(500), ErrorClass::Server),
        (Failure::Status(503), ErrorClass::Server),
        (Failure::ContextLength, ErrorClass::ContextLength),
        (Failure::BadRequest("messages: at least one message is required".into()), ErrorClass::InvalidRequest),
        (Failure::Unauthorized, ErrorClass::Configuration),
    ];
    for api in APIS {
        for (failure, class) in cases.clone() {
            let error = fail_with(api, Reply::fail(failure.clone())).await;
            assert_eq!(error.class(), class, "{api:?} {failure:?}: {error}");
            let api_error = error.api().expect("an HTTP answer");
            assert!(api_error.request_id.is_some(), "{api:?}: the request id is kept for support");
        }
    }
    let overloaded = fail_with(Api::Anthropic, Reply::fail(Failure::Status(529))).await;
    assert!(matches!(&overloaded, ModelError::Overloaded(e) if e.status == Some(529)), "{overloaded}");
    assert!(overloaded.is_retryable());
}

#[tokio::test]
async fn retry_after_is_read_from_milliseconds_or_seconds() {
    for api in APIS {
        let millis = fail_with(api, Reply::fail(Failure::RateLimited(Some(RetryAfter::Millis(250))))).await;
        assert_eq!(millis.retry_after(), Some(Duration::from_millis(250)), "{api:?}");
        let seconds = fail_with(api, Reply::fail(Failure::RateLimited(Some(RetryAfter::Seconds(3))))).await;
        assert_eq!(seconds.retry_after(), Some(Duration::from_secs(3)), "{api:?}");
        assert!(seconds.is_retryable());
    }
}

#[tokio::test]
async fn x_should_retry_false_makes_a_500_final_and_true_never_retries_a_400() {
    for api in APIS {
        let error = fail_with(api, Reply::fail(Failure::Status(500)).should_retry(false)).await;
        assert_eq!(error.class(), ErrorClass::Server);
        assert!(!error.is_retryable(), "{api:?}");
        let error = fail_with(api, Reply::fail(Failure::BadRequest("bad".into())).should_retry(true)).await;
        assert!(!error.is_retryable(), "{api:?}: never retry a 400");
    }
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_that_names_the_provider_but_not_the_key() {
    for api in APIS {
        let env = start().await;
        let mut config = env.config(api);
        config.api_key = ApiKey::new("sk-definitely-wrong-secret");
        let error = connect(config).unwrap().chat(&ask("hi")).await.expect_err("401");
        assert!(matches!(&error, ModelError::Auth(e) if e.status == Some(401)), "{api:?}: {error}");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("sk-definitely-wrong-secret"), "{shown}");
        assert!(error.to_string().contains("API key"), "{error}");
        assert_eq!(tonic::Status::from(error).code(), tonic::Code::FailedPrecondition);
    }
}

#[tokio::test]
async fn a_slow_first_byte_times_out_as_such() {
    for api in APIS {
        let error = fail_with(api, Reply::text("late").after(Duration::from_secs(2))).await;
        assert!(matches!(error, ModelError::Timeout { phase: TimeoutPhase::FirstByte, .. }), "{api:?}: {error}");
    }
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let env = start().await;
    for api in APIS {
        let mut config = env.config(api);
        config.base_url = format!("http://127.0.0.1:{port}");
        let error = connect(config).unwrap().chat(&ask("hi")).await.expect_err("nothing listens");
        assert_eq!(error.class(), ErrorClass::Connection, "{api:?}: {error}");
    }
}

#[tokio::test]
async fn a_key_that_cannot_be_a_header_is_refused_when_the_client_is_built() {
    let env = start().await;
    for api in APIS {
        let mut config = env.config(api);
        config.api_key = ApiKey::new("sk-pasted\nwith-a-newline");
        match connect(config) {
            Err(error @ ModelError::Config { .. }) => {
                assert_eq!(error.class(), ErrorClass::Configuration);
                assert!(!error.to_string().contains("with-a-newline"), "{error}");
            }
            Err(other) => panic!("{api:?}: expected a configuration error, got {other}"),
            Ok(_) => panic!("{api:?}: a client was built with an invalid key"),
        }
    }
    assert!(env.sandbox.requests(Api::OpenAi).is_empty());
}
