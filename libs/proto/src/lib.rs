//! Switchboard's contracts as Rust: prost messages and tonic clients/servers generated from `proto/` at build
//! time, plus the encoded file descriptor set that drives gRPC reflection (and, at the edge, REST transcoding and
//! the OpenAPI document). This crate holds no logic of its own.
//!
//! Modules mirror protobuf packages (generated code refers to other packages by relative path), and each
//! Switchboard area is re-exported at the root: `switchboard_proto::audit::v1`.

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant, clippy::doc_overindented_list_items)]

/// The encoded `google.protobuf.FileDescriptorSet` of every Switchboard contract and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("switchboard_descriptor");

/// Vendored googleapis packages.
pub mod google {
    /// `google.rpc`: `Status`, `Code` and the standard error details.
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
    /// `google.api`: HTTP rules, `HttpBody` and field behaviour annotations.
    pub mod api {
        tonic::include_proto!("google.api");
    }
}

/// The `switchboard.*` packages.
pub mod switchboard {
    /// `switchboard.audit`: the tamper-evident audit log.
    pub mod audit {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("switchboard.audit.v1");
        }
    }
    /// `switchboard.auth`: tenants, users, login and tokens.
    pub mod auth {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("switchboard.auth.v1");
        }
    }
    /// `switchboard.connectors`: providers, connections, OAuth, syncs, records, actions, webhooks.
    pub mod connectors {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("switchboard.connectors.v1");
        }
    }
    /// `switchboard.orchestrator`: Ask, runs and approvals.
    pub mod orchestrator {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("switchboard.orchestrator.v1");
        }
    }
    /// `switchboard.events`: the envelopes put on the event bus.
    pub mod events {
        /// Version 1.
        pub mod v1 {
            tonic::include_proto!("switchboard.events.v1");
        }
    }
}

pub use switchboard::{audit, auth, connectors, events, orchestrator};
