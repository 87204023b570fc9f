//! The BmsJob controller: watches BmsJobs and reconciles each with the cloud job it names.

mod context;
pub mod credentials;
pub mod events;
pub mod fetcher;
mod reconcile;
#[cfg(test)]
mod reconcile_tests;
pub mod status_writer;

pub use context::{Context, FIELD_MANAGER, RECONCILE_NOW_ANNOTATION, Settings};
pub use fetcher::{CloudFetcher, CloudLimits, JobFetcher, JobQuery};
pub use reconcile::{ReconcileError, error_policy, reconcile};

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, controller, watcher};
use kube::{Api, ResourceExt};
use tracing::{debug, warn};

use crate::api::BmsJob;
use context::ObjectKey;

/// How often what is remembered of deleted BmsJobs is dropped.
const FORGET_DELETED_INTERVAL: Duration = Duration::from_secs(5);
/// How often the pruning re-checks whether the caches have synced.
const SYNC_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// What is remembered of BmsJobs: poll memory and phases counted in the `jobs` gauge.
struct Remembered {
    polls: Vec<ObjectKey>,
    phases: Vec<ObjectKey>,
}

impl Remembered {
    fn of(ctx: &Context) -> Self {
        let phases = ctx.metrics.counted_jobs().into_iter();
        Self {
            polls: ctx.remembered(),
            phases: phases
                .map(|(namespace, name)| ObjectKey { namespace, name })
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.polls.is_empty() && self.phases.is_empty()
    }
}

/// Drops what `remembered` holds of BmsJobs that are not `present` any more. The controller
/// never reconciles a deleted BmsJob, so nothing else forgets them.
fn forget_deleted(ctx: &Context, remembered: Remembered, present: impl Fn(&ObjectKey) -> bool) {
    for key in remembered.polls.iter().filter(|key| !present(key)) {
        ctx.forget(key);
    }
    for key in remembered.phases.iter().filter(|key| !present(key)) {
        ctx.metrics.set_phase(&key.namespace, &key.name, None);
    }
}

/// Every [`FORGET_DELETED_INTERVAL`], once the caches have synced, forgets the BmsJobs that
/// are no longer in them.
async fn forget_deleted_periodically(ctx: Arc<Context>, stores: Vec<Store<BmsJob>>) {
    for store in &stores {
        // The store wakes only one waiter (the controller's), so ask again until ready.
        while tokio::time::timeout(SYNC_CHECK_INTERVAL, store.wait_until_ready())
            .await
            .is_err()
        {}
    }
    loop {
        tokio::time::sleep(FORGET_DELETED_INTERVAL).await;
        // What is remembered first, then the caches: a BmsJob created meanwhile is kept.
        let remembered = Remembered::of(&ctx);
        if remembered.is_empty() {
            continue;
        }
        let present: HashSet<ObjectKey> = stores
            .iter()
            .flat_map(Store::state)
            .filter_map(|job| {
                Some(ObjectKey {
                    namespace: job.namespace()?,
                    name: job.name_any(),
                })
            })
            .collect();
        forget_deleted(&ctx, remembered, |key| present.contains(key));
    }
}

/// Runs one controller per watched namespace (or one for all namespaces) until `shutdown`
/// completes; in-flight reconciles finish first. The controllers' caches are handed to
/// `stores` so that readiness can wait for their first sync.
pub async fn run_with_stores(
    ctx: Arc<Context>,
    namespaces: &[String],
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
    stores: tokio::sync::oneshot::Sender<Vec<Store<BmsJob>>>,
) {
    let apis: Vec<Api<BmsJob>> = if namespaces.is_empty() {
        vec![Api::all(ctx.client.clone())]
    } else {
        namespaces
            .iter()
            .map(|namespace| Api::namespaced(ctx.client.clone(), namespace))
            .collect()
    };
    let controllers: Vec<Controller<BmsJob>> = apis
        .into_iter()
        .map(|api| {
            Controller::new(api, watcher::Config::default().any_semantic())
                .with_config(controller::Config::default().concurrency(concurrency))
                .graceful_shutdown_on(shutdown.clone())
        })
        .collect();
    let caches: Vec<Store<BmsJob>> = controllers.iter().map(Controller::store).collect();
    let _ = stores.send(caches.clone());
    let runs = controllers.into_iter().map(|controller| {
        controller
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|result| async move {
                match result {
                    Ok((object, _)) => debug!(name = object.name, "reconciled"),
                    Err(controller::Error::ReconcilerFailed(error, object)) => {
                        debug!(name = object.name, %error, "reconcile will be retried")
                    }
                    Err(error) => warn!(%error, "controller"),
                }
            })
    });
    tokio::select! {
        _ = futures::future::join_all(runs) => {}
        () = forget_deleted_periodically(ctx.clone(), caches) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Phase;
    use crate::bms::ClientOptions;
    use crate::metrics::Metrics;
    use context::PollMemory;
    use http::{Request, Response};
    use kube::client::Body;
    use std::num::NonZeroU32;

    fn context() -> Context {
        let (service, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fetcher = CloudFetcher::new(CloudLimits {
            rate_per_second: NonZeroU32::MIN,
            burst: NonZeroU32::MIN,
            auth_retry: Duration::from_secs(60),
            auth_pause: Duration::from_secs(600),
            client: ClientOptions::default(),
        });
        Context::new(
            kube::Client::new(service, "default"),
            Arc::new(fetcher),
            Settings {
                default_interval: Duration::from_secs(15),
                max_interval: Duration::from_secs(300),
                auth_retry: Duration::from_secs(60),
                default_credentials: None,
            },
            Metrics::new(),
        )
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            namespace: "team".into(),
            name: name.into(),
        }
    }

    #[tokio::test]
    async fn deleted_bmsjobs_leave_the_memory_and_the_jobs_gauge() {
        let ctx = context();
        for name in ["kept", "deleted"] {
            ctx.remember(
                key(name),
                PollMemory {
                    uid: None,
                    generation: Some(1),
                    next_poll_at: tokio::time::Instant::now(),
                    consecutive_failures: 0,
                    reconcile_now: None,
                },
            );
            ctx.metrics.set_phase("team", name, Some(Phase::Succeeded));
        }
        let remembered = Remembered::of(&ctx);
        forget_deleted(&ctx, remembered, |key| key.name == "kept");
        assert_eq!(ctx.remembered(), vec![key("kept")]);
        assert_eq!(
            ctx.metrics.counted_jobs(),
            vec![("team".to_owned(), "kept".to_owned())]
        );
        let text = ctx.metrics.encode().expect("metrics");
        assert!(
            text.contains(r#"bms_operator_jobs{phase="Succeeded"} 1"#),
            "{text}"
        );
    }
}
