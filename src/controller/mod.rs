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

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::Api;
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, controller, watcher};
use tracing::{debug, warn};

use crate::api::BmsJob;

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
    let _ = stores.send(controllers.iter().map(Controller::store).collect());
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
    futures::future::join_all(runs).await;
}
