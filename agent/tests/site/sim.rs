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
