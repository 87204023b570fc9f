//! `run`: wires the Kubernetes client, the cloud, metrics, health, leader election and the
//! controllers, and stops them gracefully on SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Context as _;
use futures::FutureExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::runtime::reflector::Store;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::api::BmsJob;
use crate::bms::ClientOptions;
use crate::cli::RunArgs;
use crate::controller::{self, CloudFetcher, CloudLimits, Context, Settings};
use crate::get_job::{credentials, read_ca};
use crate::http::{Readiness, serve};
use crate::metrics::Metrics;

/// How often a standby reads the Lease to see whether its holder let it go.
const LEASE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How often readiness re-checks whether the watches have synced.
const SYNC_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

async fn kube_client(args: &RunArgs) -> anyhow::Result<kube::Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Completes on SIGTERM or Ctrl-C.
async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

type LeaseTask = tokio::task::JoinHandle<
    Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
>;

/// Waits until this replica holds the lease; returns the receiver that reports losing it.
///
/// The lease manager wakes a standby only when the holder's lease would expire, so a Lease
/// released by a holder that stopped gracefully would stay unused until then. A standby
/// therefore also reads the Lease every [`LEASE_CHECK_INTERVAL`], and starts over at once when
/// its holder let it go.
async fn acquire_lease(
    client: kube::Client,
    args: &RunArgs,
    identity: &str,
) -> anyhow::Result<(watch::Receiver<bool>, LeaseTask)> {
    let duration = args.leader_election_lease_duration.as_secs().max(2);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &args.leader_election_namespace);
    info!(lease = %args.leader_election_lease_name, identity, "waiting for the lease");
    loop {
        let manager = kube_lease_manager::LeaseManagerBuilder::new(
            client.clone(),
            &args.leader_election_lease_name,
        )
        .with_namespace(&args.leader_election_namespace)
        .with_identity(identity)
        .with_duration(duration)
        .with_grace((duration / 3).max(1))
        // One field manager per replica: the API server then refuses (409 Conflict) a replica
        // that would take a Lease another replica has just taken.
        .with_field_manager(format!("{}-{identity}", controller::FIELD_MANAGER))
        .build()
        .await
        .context("setting up leader election")?;
        let (mut leading, task) = manager.watch().await;
        let released = tokio::select! {
            acquired = wait_until_leading(&mut leading) => {
                acquired?;
                false
            }
            () = released_by_holder(&leases, &args.leader_election_lease_name, identity) => true,
        };
        if !released || *leading.borrow() {
            info!("holding the lease");
            return Ok((leading, task));
        }
        debug!("the lease holder let the lease go; trying to take it now");
        drop(leading);
        let _ = task.await;
    }
}

async fn wait_until_leading(leading: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
    while !*leading.borrow_and_update() {
        leading.changed().await.context("leader election stopped")?;
    }
    Ok(())
}

/// Completes once the Lease, seen held by another replica, has no holder any more.
async fn released_by_holder(leases: &Api<Lease>, name: &str, identity: &str) {
    let mut held_by_another = false;
    loop {
        tokio::time::sleep(LEASE_CHECK_INTERVAL).await;
        let holder = match leases.get_opt(name).await {
            Ok(lease) => lease
                .and_then(|lease| lease.spec)
                .and_then(|spec| spec.holder_identity),
            Err(error) => {
                debug!(%error, "reading the lease");
                continue;
            }
        };
        match holder {
            Some(holder) if holder != identity => held_by_another = true,
            None if held_by_another => return,
            _ => {}
        }
    }
}

/// Runs the operator until SIGTERM, Ctrl-C, or the loss of the lease.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = kube_client(&args).await?;
    let metrics = Metrics::new();
    let readiness = Arc::new(Readiness::default());
    let server = serve(args.http_addr, metrics.clone(), readiness.clone())
        .await
        .with_context(|| format!("binding {}", args.http_addr))?;
    info!(addr = %args.http_addr, "serving /metrics, /livez and /readyz");

    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("bms-job-operator-{}", std::process::id()));
    let lease = if args.leader_election {
        let acquire = acquire_lease(client.clone(), &args, &identity);
        tokio::select! {
            lease = acquire => Some(lease?),
            _ = termination() => return Ok(()),
        }
    } else {
        None
    };
    readiness.set_leading(true);

    let fetcher = CloudFetcher::new(CloudLimits {
        rate_per_second: args.cloud_rate_limit,
        burst: args.cloud_burst,
        auth_retry: args.auth_retry,
        auth_pause: args.auth_pause,
        client: ClientOptions {
            ca_pem: read_ca(args.ca_file.as_deref())?,
            ..ClientOptions::default()
        },
    });
    let ctx = Arc::new(
        Context::new(
            client,
            Arc::new(fetcher),
            Settings {
                default_interval: args.default_poll_interval,
                max_interval: args.max_poll_interval,
                auth_retry: args.auth_retry,
                default_credentials: credentials(&args.credentials),
            },
            metrics,
        )
        .with_events(kube::runtime::events::Reporter {
            controller: controller::FIELD_MANAGER.to_owned(),
            instance: Some(identity.clone()),
        }),
    );

    let (stop_sender, stop_receiver) = watch::channel(false);
    let shutdown = {
        let mut stop = stop_receiver.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
        .shared()
    };
    let (stores_sender, stores_receiver) = tokio::sync::oneshot::channel::<Vec<Store<BmsJob>>>();
    let sync_readiness = readiness.clone();
    tokio::spawn(async move {
        if let Ok(stores) = stores_receiver.await {
            for store in stores {
                // The store wakes only one waiter (the controller's), so ask again until ready.
                while tokio::time::timeout(SYNC_CHECK_INTERVAL, store.wait_until_ready())
                    .await
                    .is_err()
                {}
            }
            sync_readiness.set_synced(true);
            info!("watches synced");
        }
    });
    let controllers = controller::run_with_stores(
        ctx,
        &args.namespaces,
        args.concurrency,
        shutdown,
        stores_sender,
    );
    tokio::pin!(controllers);

    let mut leading = lease.as_ref().map(|(leading, _)| leading.clone());
    let lost_lease = async {
        match leading.as_mut() {
            Some(leading) => {
                let _ = leading.wait_for(|leading| !*leading).await;
            }
            None => std::future::pending().await,
        }
    };
    let lost = tokio::select! {
        _ = &mut controllers => false,
        _ = termination() => false,
        _ = lost_lease => true,
    };
    readiness.set_leading(false);
    let _ = stop_sender.send(true);
    controllers.await;
    drop(leading);
    if let Some((leading, task)) = lease {
        drop(leading);
        match task.await {
            Ok(Ok(_)) => info!("lease released"),
            Ok(Err(error)) => warn!(%error, "releasing the lease"),
            Err(error) => warn!(%error, "lease task"),
        }
    }
    server.abort();
    if lost {
        anyhow::bail!("lost the lease to another replica; stopping so that only one replica polls");
    }
    info!("stopped");
    Ok(())
}
