//! The embedded Kafka: librdkafka's in-process mock cluster, speaking the real Kafka
//! protocol on loopback, fed with the same synthetic chat every time (the profile's
//! `embedded: {messages, seed, partitions}`), so a pipeline runs on a fresh machine with
//! no broker. It lives as long as the command: what it holds is deterministic, the same
//! messages at the same offsets, so bronze's record of what it has read stays valid from
//! one run to the next.

use std::sync::atomic::AtomicBool;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use super::{IngestError, kafka_err, produce};
use crate::settings::kafka::EmbeddedSettings;

/// A running embedded cluster.
pub struct Embedded {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl Embedded {
    /// Starts a cluster holding `topics`, each fed with the synthetic sample.
    pub fn start(settings: &EmbeddedSettings, topics: &[String]) -> Result<Embedded, IngestError> {
        let cluster = MockCluster::new(1).map_err(kafka_err)?;
        for t in topics {
            cluster
                .create_topic(t, settings.partitions, 1)
                .map_err(kafka_err)?;
        }
        let embedded = Embedded { cluster };
        let producer = produce::producer(&embedded.bootstrap_servers(), &Default::default())?;
        let never = AtomicBool::new(false);
        for t in topics {
            produce::synthetic(
                &producer,
                t,
                settings.seed,
                0,
                settings.messages,
                Some(settings.partitions),
                None,
                &never,
            )?;
        }
        Ok(embedded)
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
