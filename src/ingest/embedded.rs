//! The embedded Kafka: librdkafka's in-process mock cluster, speaking the real Kafka
//! protocol on loopback, fed with the same synthetic chat every time (the profile's
//! `embedded: {messages, seed, partitions}`), so a pipeline runs on a fresh machine with
//! no broker. It lives as long as the command: what it holds is deterministic, the same
//! messages at the same offsets, so bronze's record of what it has read stays valid from
//! one run to the next.

use std::sync::atomic::AtomicBool;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use super::{IngestError, produce};
use crate::settings::kafka::EmbeddedSettings;

/// A running embedded cluster.
pub struct Embedded {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl Embedded {
    /// Starts a cluster holding `topics`, each fed with the synthetic sample.
    pub fn start(settings: &EmbeddedSettings, topics: &[String]) -> Result<Embedded, IngestError> {
        let cluster = MockCluster::new(1)?;
        for t in topics {
            cluster
                .create_topic(t, settings.partitions, 1)?;
        }
        let embedded = Embedded { cluster };
        let bootstrap = embedded.bootstrap_servers();
        let producer = produce::producer(&bootstrap, &Default::default())?;
        let never = AtomicBool::new(false);
        for t in topics {
            produce::synthetic(
                &producer,
                t,
                settings.seed,
                0,
                settings.messages,
                produce::Partitioning::ByKey(settings.partitions),
                None,
                &never,
            )?;
        }
        // The mock cluster keeps at most 5 MB (or 100,000 messages) per partition and drops
        // the oldest beyond that: a sample that does not fit would lose messages.
        let check: rdkafka::consumer::BaseConsumer = rdkafka::config::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()?;
        for t in topics {
            for p in 0..settings.partitions {
                let (low, _) = rdkafka::consumer::Consumer::fetch_watermarks(
                    &check,
                    t,
                    p,
                    std::time::Duration::from_secs(10),
                )?;
                if low > 0 {
                    return Err(IngestError::Config(format!(
                        "the embedded sample of {} messages does not fit in {} partitions (the in-process cluster keeps about 5 MB, some 10,000 chat messages, per partition): raise `kafka.embedded.partitions` or lower `messages`",
                        settings.messages, settings.partitions
                    )));
                }
            }
        }
        Ok(embedded)
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
