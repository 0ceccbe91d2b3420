//! Deterministic simulation of the quorum: every scenario runs for many seeds, each on its own
//! current-thread runtime with paused time (sim time advances only when all tasks wait), over
//! the seeded [`SimNet`]. A failing seed is printed; rerun one with `RILL_SIM_SEED=<seed>`.
//! (openraft draws its election timeouts from its own RNG, so a seed fixes our faults and
//! schedule but not every timeout; the invariants must hold for any.)

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_quorum::MetadataQuorum;

use crate::harness::Cluster;

/// Runs `scenario` for `count` fixed seeds plus `count` seeds new on every run (drawn from the
/// clock), or only the one in `RILL_SIM_SEED`; panics with the list of failing seeds.
pub(crate) fn run_seeds<F, Fut>(name: &str, count: u64, scenario: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let seeds: Vec<u64> = match std::env::var("RILL_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(s) => vec![s],
        None => {
            let fresh = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let fixed = (0..count).map(|i| 0x5100 + i);
            fixed
                .chain((0..count).map(|i| fresh.wrapping_add(i)))
                .collect()
        }
    };
    let mut failures = Vec::new();
    for seed in seeds {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(900), scenario(seed))
                    .await
                    .unwrap_or_else(|_| Err("did not finish in 900 s of sim time".into()))
            })
        }));
        drop(rt);
        let err = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(p) => format!(
                "panic: {:?}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            ),
        };
        eprintln!("sim {name}: FAILED seed {seed} (rerun: RILL_SIM_SEED={seed}): {err}");
        failures.push(seed);
    }
    assert!(
        failures.is_empty(),
        "sim {name}: failing seeds {failures:?}"
    );
}

/// Heals everything, restarts down nodes, commits one more batch, waits for every node to
/// apply it, then checks convergence and the invariants.
async fn finish(mut c: Cluster) -> Result<(), String> {
    c.net.heal();
    c.net.set_loss(0.0, 5);
    for id in c.down() {
        c.start(id).await;
    }
    let mut last = None;
    for _ in 0..200 {
        if let Some(off) = c.propose_one().await.map_err(|e| e.to_string())? {
            last = Some(off);
            break;
        }
    }
    let last = last.ok_or("no commit within the final phase")?;
    if !c.wait_applied(last, Duration::from_secs(60)).await {
        return Err(format!("not every node applied offset {last}"));
    }
    let images: Vec<_> = c.nodes.values().map(|q| q.image()).collect();
    if images.windows(2).any(|w| w[0] != w[1]) {
        return Err("nodes applied the same offset but hold different images".into());
    }
    let violations = {
        let mut checker = c.checker.lock().unwrap();
        checker.check_acked();
        let mut lost = Vec::new();
        for (_, recs) in &checker.acked {
            for r in recs {
                if let rill_meta::MetadataRecord::TopicCreated { name, .. } = r {
                    if images[0].topic(name).is_none() {
                        lost.push(format!("acked topic {name} lost"));
                    }
                }
            }
        }
        checker.violations.extend(lost);
        if std::env::var_os("RILL_SIM_VERBOSE").is_some() {
            eprintln!(
                "seed {}: acked {}, last offset {last}, terms {:?}, installs {:?}",
                c.seed(),
                checker.acked.len(),
                checker.terms(),
                checker.installed,
            );
        }
        std::mem::take(&mut checker.violations)
    };
    c.shutdown().await;
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations.join("; "))
    }
}

async fn propose_n(c: &mut Cluster, n: usize) -> Result<usize, String> {
    let mut acked = 0;
    for _ in 0..n {
        if c.propose_one().await.map_err(|e| e.to_string())?.is_some() {
            acked += 1;
        }
    }
    Ok(acked)
}

async fn chaos(seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = Cluster::new(seed, 3, 8).await;
    c.wait_leader(Duration::from_secs(30))
        .await
        .ok_or("no first leader")?;
    for _ in 0..60 {
        match rng.random_range(0..10) {
            0..=3 => {
                propose_n(&mut c, rng.random_range(1..4)).await?;
            }
            4 if c.down().is_empty() => {
                let victim = c.ids[rng.random_range(0..c.ids.len())];
                c.crash(victim).await;
            }
            5 => {
                if let Some(&id) = c.down().first() {
                    c.start(id).await;
                }
            }
            6 => {
                let id = c.ids[rng.random_range(0..c.ids.len())];
                c.net.heal();
                c.net.isolate(id, &c.ids.clone());
            }
            7 => c.net.heal(),
            8 => c
                .net
                .set_loss(rng.random_range(0.0..0.25), rng.random_range(1..40)),
            _ => {
                let ms = rng.random_range(0..800);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
    finish(c).await
}

async fn leader_crash_and_restart(seed: u64) -> Result<(), String> {
    let mut c = Cluster::new(seed, 3, 1000).await;
    let old = c
        .wait_leader(Duration::from_secs(30))
        .await
        .ok_or("no leader")?;
    propose_n(&mut c, 5).await?;
    c.crash(old).await;
    let new = c
        .wait_leader(Duration::from_secs(5))
        .await
        .ok_or("no leader within 5 s")?;
    if new == old {
        return Err("crashed node still leader".into());
    }
    if propose_n(&mut c, 5).await? == 0 {
        return Err("two of three could not commit".into());
    }
    c.start(old).await;
    finish(c).await
}

async fn minority_partition(seed: u64) -> Result<(), String> {
    let mut c = Cluster::new(seed, 5, 1000).await;
    let ids = c.ids.clone();
    let leader = c
        .wait_leader(Duration::from_secs(30))
        .await
        .ok_or("no leader")?;
    propose_n(&mut c, 3).await?;
    // Cut the leader and one follower off: the other three elect a leader and keep committing.
    let buddy = *ids.iter().find(|i| **i != leader).ok_or("no follower")?;
    c.net.isolate(leader, &ids);
    c.net.isolate(buddy, &ids);
    let stale = c.nodes[&leader].propose(vec![crate::harness::topic("stale".into(), 7)]);
    if let Ok(Ok(off)) = tokio::time::timeout(Duration::from_secs(3), stale).await {
        return Err(format!("isolated leader committed at {off}"));
    }
    let mut acked = 0;
    for _ in 0..50 {
        if acked >= 5 {
            break;
        }
        acked += propose_n(&mut c, 1).await?;
    }
    if acked < 5 {
        return Err(format!("majority committed only {acked} of 5"));
    }
    finish(c).await
}

async fn message_loss(seed: u64) -> Result<(), String> {
    let mut c = Cluster::new(seed, 3, 1000).await;
    c.net.set_loss(0.3, 20);
    let mut acked = 0;
    for _ in 0..200 {
        if acked >= 10 {
            break;
        }
        acked += propose_n(&mut c, 1).await?;
    }
    if acked < 10 {
        return Err(format!("only {acked} of 10 committed under 30% loss"));
    }
    finish(c).await
}

async fn restart_all_from_disk(seed: u64) -> Result<(), String> {
    let mut c = Cluster::new(seed, 3, 5).await;
    c.wait_leader(Duration::from_secs(30))
        .await
        .ok_or("no leader")?;
    let acked = propose_n(&mut c, 12).await?;
    for id in c.ids.clone() {
        c.crash(id).await;
    }
    for id in c.ids.clone() {
        c.start(id).await;
    }
    c.wait_leader(Duration::from_secs(30))
        .await
        .ok_or("no leader after restart")?;
    if acked == 0 {
        return Err("nothing committed before the restart".into());
    }
    finish(c).await
}

async fn snapshot_install(seed: u64) -> Result<(), String> {
    let mut c = Cluster::new(seed, 3, 5).await;
    let ids = c.ids.clone();
    let leader = c
        .wait_leader(Duration::from_secs(30))
        .await
        .ok_or("no leader")?;
    let lagging = *ids.iter().find(|i| **i != leader).ok_or("no follower")?;
    c.crash(lagging).await;
    let acked = propose_n(&mut c, 25).await?;
    if acked < 20 {
        return Err(format!("only {acked} of 25 committed with one node down"));
    }
    c.start(lagging).await;
    let checker = c.checker.clone();
    finish(c).await?;
    if !checker.lock().unwrap().installed.contains(&lagging) {
        return Err(format!(
            "node {lagging} caught up without a snapshot install"
        ));
    }
    Ok(())
}

#[test]
fn sim_chaos() {
    run_seeds("chaos", 24, chaos);
}

#[test]
fn sim_leader_crash_and_restart() {
    run_seeds("leader_crash_and_restart", 8, leader_crash_and_restart);
}

#[test]
fn sim_minority_partition() {
    run_seeds("minority_partition", 8, minority_partition);
}

#[test]
fn sim_message_loss() {
    run_seeds("message_loss", 8, message_loss);
}

#[test]
fn sim_restart_all_from_disk() {
    run_seeds("restart_all_from_disk", 8, restart_all_from_disk);
}

#[test]
fn sim_snapshot_install_to_lagging_node() {
    run_seeds("snapshot_install", 8, snapshot_install);
}
