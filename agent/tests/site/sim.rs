//! The site scenarios on kube-sim (its request log counts each node's requests).

use crate::harness::Api;
use crate::scenarios as s;

#[test]
fn kill_9_of_the_leader_is_taken_over_within_the_lease_from_the_followers_cache() {
    s::kill_9_of_the_leader_is_taken_over_within_the_lease_from_the_followers_cache(Api::Sim);
}

#[test]
fn a_leader_paused_past_its_lease_writes_nothing_after_it_resumes() {
    s::a_leader_paused_past_its_lease_writes_nothing_after_it_resumes(Api::Sim);
}

#[test]
fn a_leader_that_loses_power_mid_apply_is_replaced_and_the_site_stays_at_or_above_its_last_good_revision(
) {
    s::a_leader_that_loses_power_mid_apply_is_replaced_and_the_site_stays_at_or_above_its_last_good_revision(Api::Sim);
}

#[test]
fn a_new_leader_with_an_older_local_copy_continues_from_the_sites_revision_never_below_it() {
    s::a_new_leader_with_an_older_local_copy_continues_from_the_sites_revision_never_below_it(
        Api::Sim,
    );
}

#[test]
fn an_idle_site_costs_one_lease_request_per_retry_period_per_node() {
    s::idle_cost(Api::Sim);
}

/// Every node's heartbeat names the site's leader; only the leader says it leads.
#[test]
fn heartbeats_name_the_node_that_leads_the_site() {
    use crate::harness::{configmaps, Site};
    let rec = ferry_tests::recorder::RecordingServer::start().unwrap();
    let mut site = Site::new(Api::Sim, "beat");
    site.env.publish(1, &configmaps(&site.ns, 1, "1"));
    for i in 0..3 {
        site.add_config(
            i,
            &format!(
                "fleet:\n  url: {}/heartbeat\n  interval: 1s\n  caFile: {}",
                rec.url,
                rec.file("ca.pem").display()
            ),
        );
    }
    site.start_all();
    let leads = |hb: &serde_json::Value| hb["site"]["leading"] == true;
    site.ticks_until("every node reported the leader", 40, || {
        let beats = rec.json_bodies("/heartbeat");
        let Some(leader) = site
            .lease()
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
        else {
            return false;
        };
        site.nodes.iter().all(|n| {
            beats
                .iter()
                .rev()
                .find(|b| b["device"]["id"] == n.id.as_str())
                .is_some_and(|b| {
                    b["site"]["name"] == "beat"
                        && b["site"]["leader"] == leader.as_str()
                        && leads(b) == (n.id == leader)
                })
        })
    });
}

#[test]
fn a_leader_cut_off_the_api_server_stops_writing_and_is_replaced() {
    s::partition(Api::Sim);
}

#[test]
fn a_leader_paused_in_the_middle_of_an_apply_writes_no_further_object_after_it_resumes() {
    s::paused_mid_apply(Api::Sim);
}

#[test]
fn a_drop_on_a_follower_reaches_the_leader_through_its_relay() {
    crate::drops::drop_on_a_follower_reaches_the_leader(Api::Sim);
}

/// SIGTERM of the leader releases the Lease: a follower takes over on its next try.
#[test]
fn a_leader_shut_down_cleanly_releases_the_lease_and_a_follower_takes_over_at_once() {
    crate::shutdown::released_on_sigterm(Api::Sim);
}

#[test]
fn three_nodes_upgrade_their_host_payloads_one_at_a_time() {
    crate::rollout::three_nodes_upgrade_one_at_a_time(Api::Sim);
}

#[test]
fn a_node_that_fails_its_host_check_stops_the_rollout_and_the_third_is_not_touched() {
    crate::rollout::a_node_that_fails_its_check_stops_the_rollout_and_the_third_is_not_touched(
        Api::Sim,
    );
}

#[test]
fn a_malformed_host_stop_record_stops_every_revision() {
    crate::rollout_cases::a_malformed_stop_record_stops_every_revision(Api::Sim);
}

#[test]
fn a_node_killed_in_its_host_turn_blocks_the_others_only_for_its_lease() {
    crate::rollout_cases::a_node_killed_in_its_turn_blocks_the_others_only_for_its_lease(Api::Sim);
}
