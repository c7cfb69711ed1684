//! OpenSIPS 4.0 command aliases: the 3.x name everyone types (`ul_dump`) and the canonical
//! `module:command` it stands for (`usrloc:dump`).
//!
//! 4.0 registers every command as `module:command` and keeps the old names as aliases, but
//! `which` lists only the canonical names (PROTOCOL.md §5.8), so a did-you-mean over that
//! list alone cannot suggest `ul_dump` for `ul_dupm`. This table was taken from the
//! `mi_export_t` alias lists of every module (and of the core's MI groups) of the 4.0.1
//! source; a command whose canonical local name is its 3.x name (`core:uptime`) has none.
//!
//! ```
//! use opensips_mi::helpers::{aliases_of, canonical_name};
//! assert_eq!(canonical_name("ul_dump"), Some("usrloc:dump"));
//! assert_eq!(canonical_name("t_uac_dlg"), Some("tm:uac_dlg"));
//! assert_eq!(aliases_of("statistics:get").collect::<Vec<_>>(), ["get_statistics"]);
//! ```

/// `(alias, canonical name)`, sorted by alias.
pub(crate) const V4_ALIASES: &[(&str, &str)] = &[
    ("GET_CPL", "cpl_c:get"),
    ("LOAD_CPL", "cpl_c:load"),
    ("REMOVE_CPL", "cpl_c:remove"),
    ("add_blacklist_rule", "blacklists:add_rule"),
    ("aka_av_add", "auth_aka:av_add"),
    ("aka_av_drop", "auth_aka:av_drop"),
    ("aka_av_drop_all", "auth_aka:av_drop_all"),
    ("aka_av_fail", "auth_aka:av_fail"),
    ("b2b_bridge", "b2b_logic:bridge"),
    ("b2b_list", "b2b_logic:list"),
    ("b2b_terminate_call", "b2b_logic:terminate_call"),
    ("b2b_trigger_scenario", "b2b_logic:trigger_scenario"),
    ("b2be_list", "b2b_entities:list"),
    ("bm_enable_global", "benchmark:enable_global"),
    ("bm_enable_timer", "benchmark:enable_timer"),
    ("bm_granularity", "benchmark:granularity"),
    ("bm_loglevel", "benchmark:loglevel"),
    ("bm_poll_results", "benchmark:poll_results"),
    ("cache_fetch", "cache:fetch"),
    ("cache_fetch_chunk", "cachedb_local:fetch_chunk"),
    ("cache_remove", "cache:remove"),
    ("cache_remove_chunk", "cachedb_local:remove_chunk"),
    ("cache_store", "cache:store"),
    ("call_hold", "callops:hold"),
    ("call_transfer", "callops:transfer"),
    ("call_unhold", "callops:unhold"),
    ("cc_agent_login", "call_center:agent_login"),
    (
        "cc_dispatch_call_to_agent",
        "call_center:dispatch_call_to_agent",
    ),
    (
        "cc_internal_call_dispatching",
        "call_center:internal_call_dispatching",
    ),
    ("cc_list_agents", "call_center:list_agents"),
    ("cc_list_calls", "call_center:list_calls"),
    ("cc_list_flows", "call_center:list_flows"),
    ("cc_list_queue", "call_center:list_queue"),
    ("cc_reload", "call_center:reload"),
    ("cc_reset_stats", "call_center:reset_stats"),
    ("check_blacklist", "blacklists:check"),
    ("check_blacklists", "blacklists:check_all"),
    ("cluster_broadcast_mi", "clusterer:broadcast_mi"),
    ("cluster_send_mi", "clusterer:send_mi"),
    ("clusterer_list", "clusterer:list"),
    ("clusterer_list_cap", "clusterer:list_cap"),
    ("clusterer_list_shtags", "clusterer:list_shtags"),
    ("clusterer_list_topology", "clusterer:list_topology"),
    ("clusterer_reload", "clusterer:reload"),
    ("clusterer_remove_node", "clusterer:remove_node"),
    ("clusterer_set_cap_status", "clusterer:set_cap_status"),
    ("clusterer_set_status", "clusterer:set_status"),
    ("clusterer_shtag_set_active", "clusterer:shtag_set_active"),
    ("config_flush", "config:flush"),
    ("config_list", "config:list"),
    ("config_push", "config:push"),
    ("config_push_bulk", "config:push_bulk"),
    ("config_reload", "config:reload"),
    ("cr_activate_host", "carrierroute:activate_host"),
    ("cr_add_host", "carrierroute:add_host"),
    ("cr_deactivate_host", "carrierroute:deactivate_host"),
    ("cr_delete_host", "carrierroute:delete_host"),
    ("cr_dump_routes", "carrierroute:dump_routes"),
    ("cr_reload_routes", "carrierroute:reload_routes"),
    ("cr_replace_host", "carrierroute:replace_host"),
    ("db_get", "db_virtual:get"),
    ("db_set", "db_virtual:set"),
    ("dbt_dump", "db_text:dump"),
    ("dbt_reload", "db_text:reload"),
    ("del_blacklist_rule", "blacklists:del_rule"),
    ("dfks_set_feature", "presence_dfks:set_feature"),
    ("dlg_cluster_sync", "dialog:cluster_sync"),
    ("dlg_db_sync", "dialog:db_sync"),
    ("dlg_end_dlg", "dialog:end_dlg"),
    ("dlg_list", "dialog:list"),
    ("dlg_list_ctx", "dialog:list_ctx"),
    ("dlg_push_var", "dialog:push_var"),
    ("dlg_restore_db", "dialog:restore_db"),
    ("dlg_send_sequential", "dialog:send_sequential"),
    ("dlg_set_profile", "dialog:set_profile"),
    ("dlg_unset_profile", "dialog:unset_profile"),
    ("dp_reload", "dialplan:reload"),
    ("dp_show_partition", "dialplan:show_partition"),
    ("dp_translate", "dialplan:translate"),
    ("dr_carrier_status", "drouting:carrier_status"),
    ("dr_enable_probing", "drouting:enable_probing"),
    ("dr_gw_status", "drouting:gw_status"),
    ("dr_number_routing", "drouting:number_routing"),
    ("dr_reload", "drouting:reload"),
    ("dr_reload_status", "drouting:reload_status"),
    ("ds_list", "dispatcher:list"),
    ("ds_push_script_attrs", "dispatcher:push_script_attrs"),
    ("ds_reload", "dispatcher:reload"),
    ("ds_set_state", "dispatcher:set_state"),
    ("event_subscribe", "evi:subscribe"),
    ("events_list", "evi:list"),
    ("evi_flat_rotate", "event_flatstore:rotate"),
    ("fraud_reload", "fraud_detection:reload"),
    ("fs_list", "freeswitch_scripting:list"),
    ("fs_reload", "freeswitch_scripting:reload"),
    ("fs_subscribe", "freeswitch_scripting:subscribe"),
    ("fs_unsubscribe", "freeswitch_scripting:unsubscribe"),
    ("get_gflags", "gflags:get"),
    ("get_statistics", "statistics:get"),
    ("gflags:get_gflags", "gflags:get"),
    ("gflags:is_gflag", "gflags:check"),
    ("gflags:reset_gflag", "gflags:reset"),
    ("gflags:set_gflag", "gflags:set"),
    ("httpd_list_root_path", "httpd:list_root_path"),
    ("imc_list_members", "imc:list_members"),
    ("imc_list_rooms", "imc:list_rooms"),
    ("is_gflag", "gflags:check"),
    ("lb_list", "load_balancer:list"),
    ("lb_reload", "load_balancer:reload"),
    ("lb_resize", "load_balancer:resize"),
    ("lb_status", "load_balancer:status"),
    ("list_blacklists", "blacklists:list"),
    ("list_statistics", "statistics:list"),
    ("list_tcp_conns", "tcp:list"),
    (
        "media_exchange_from_call_to_uri",
        "media_exchange:from_call_to_uri",
    ),
    (
        "media_exchange_from_call_to_uri_body",
        "media_exchange:from_call_to_uri_body",
    ),
    (
        "media_fork_from_call_to_uri",
        "media_exchange:fork_from_call_to_uri",
    ),
    ("media_terminate", "media_exchange:terminate"),
    ("mem_pkg_dump", "mem:pkg_dump"),
    ("mem_rpm_dump", "mem:rpm_dump"),
    ("mem_shm_check", "mem:shm_check"),
    ("mem_shm_dump", "mem:shm_dump"),
    ("mq_fetch", "mqueue:fetch"),
    ("mq_get_size", "mqueue:get_size"),
    ("mq_get_sizes", "mqueue:get_sizes"),
    ("msrp_gw_end_session", "msrp_gateway:end_session"),
    ("msrp_gw_list_sessions", "msrp_gateway:list_sessions"),
    ("msrp_trace", "proto_msrp:trace"),
    ("msrp_ua_end_session", "msrp_ua:end_session"),
    ("msrp_ua_list_sessions", "msrp_ua:list_sessions"),
    ("msrp_ua_send_message", "msrp_ua:send_message"),
    ("msrp_ua_start_session", "msrp_ua:start_session"),
    ("pi_reload_tbls_and_cmds", "pi_http:reload_tbls_and_cmds"),
    ("pres_expose", "presence:expose"),
    ("pres_phtable_list", "presence:phtable_list"),
    ("pua_publish", "pua_mi:publish"),
    ("pua_subscribe", "pua_mi:subscribe"),
    ("qr_disable_dst", "qrouting:disable_dst"),
    ("qr_enable_dst", "qrouting:enable_dst"),
    ("qr_reload", "qrouting:reload"),
    ("qr_status", "qrouting:status"),
    ("raise_event", "evi:raise"),
    ("rc_addClient", "rate_cacher:addClient"),
    ("rc_addVendor", "rate_cacher:addVendor"),
    ("rc_deleteClient", "rate_cacher:deleteClient"),
    ("rc_deleteClientRate", "rate_cacher:deleteClientRate"),
    ("rc_deleteVendor", "rate_cacher:deleteVendor"),
    ("rc_deleteVendorRate", "rate_cacher:deleteVendorRate"),
    ("rc_getClientPrice", "rate_cacher:getClientPrice"),
    ("rc_getVendorPrice", "rate_cacher:getVendorPrice"),
    ("rc_reloadClientRate", "rate_cacher:reloadClientRate"),
    ("rc_reloadVendorRate", "rate_cacher:reloadVendorRate"),
    ("reg_delete", "uac_registrant:delete"),
    ("reg_disable", "uac_registrant:disable"),
    ("reg_enable", "uac_registrant:enable"),
    ("reg_force_register", "uac_registrant:force_register"),
    ("reg_list", "uac_registrant:list"),
    ("reg_reload", "uac_registrant:reload"),
    ("reg_upsert", "uac_registrant:upsert"),
    ("regex_match", "regex:match"),
    ("regex_match_group", "regex:match_group"),
    ("regex_reload", "regex:reload"),
    ("reload_blacklist", "userblacklist:reload"),
    ("reset_all_statistics", "statistics:reset_all"),
    ("reset_gflag", "gflags:reset"),
    ("reset_statistics", "statistics:reset"),
    ("rl_dump_pipe", "ratelimit:dump_pipe"),
    ("rl_get_pid", "ratelimit:get_pid"),
    ("rl_list", "ratelimit:list"),
    ("rl_reset_pipe", "ratelimit:reset_pipe"),
    ("rl_set_pid", "ratelimit:set_pid"),
    ("rls_update_subscriptions", "rls:update_subscriptions"),
    ("rtp_relay_list", "rtp_relay:list"),
    ("rtp_relay_update", "rtp_relay:update"),
    ("rtp_relay_update_callid", "rtp_relay:update_callid"),
    ("sca_list", "b2b_sca:list"),
    ("sca_list_lines", "presence_callinfo:list_lines"),
    ("sca_release_line", "presence_callinfo:release_line"),
    ("sca_set_log_level", "presence_callinfo:set_log_level"),
    ("set_gflag", "gflags:set"),
    ("show_fraud_stats", "fraud_detection:show_stats"),
    ("sip_capture", "sipcapture:capture"),
    ("sockets_list", "sockets_mgm:list"),
    ("sockets_reload", "sockets_mgm:reload"),
    ("sql_cacher_reload", "sql_cacher:reload"),
    ("sr_get_status", "status_report:get"),
    ("sr_list_identifiers", "status_report:identifiers"),
    ("sr_list_reports", "status_report:reports"),
    ("sr_list_status", "status_report:status"),
    ("stir_shaken_ca_reload", "stir_shaken:ca_reload"),
    ("stir_shaken_crl_reload", "stir_shaken:crl_reload"),
    ("subscribers_list", "evi:subscribers"),
    ("t_hash", "tm:hash"),
    ("t_reply", "tm:reply"),
    ("t_uac_cancel", "tm:uac_cancel"),
    ("t_uac_dlg", "tm:uac_dlg"),
    ("tcp_reload", "tcp_mgm:reload"),
    ("tcp_trace", "proto_tcp:trace"),
    ("tls_list", "tls_mgm:list"),
    ("tls_reload", "tls_mgm:reload"),
    ("tls_trace", "proto_tls:trace"),
    ("trace_start", "tracer:start"),
    ("trace_stop", "tracer:stop"),
    ("trie_number_delete", "trie:number_delete"),
    ("trie_number_upsert", "trie:number_upsert"),
    ("trie_reload", "trie:reload"),
    ("trie_reload_status", "trie:reload_status"),
    ("trie_search", "trie:search"),
    ("ul_add", "usrloc:add"),
    ("ul_cluster_sync", "usrloc:cluster_sync"),
    ("ul_dump", "usrloc:dump"),
    ("ul_flush", "usrloc:flush"),
    ("ul_rm", "usrloc:rm"),
    ("ul_rm_contact", "usrloc:rm_contact"),
    ("ul_show_contact", "usrloc:show_contact"),
    ("ul_sync", "usrloc:sync"),
    ("ws_trace", "proto_ws:trace"),
    ("wss_trace", "proto_wss:trace"),
];

/// The canonical 4.0 name (`usrloc:dump`) of a 3.x command name kept as an alias
/// (`ul_dump`), if it is one.
pub fn canonical_name(alias: &str) -> Option<&'static str> {
    V4_ALIASES
        .binary_search_by(|(a, _)| (*a).cmp(alias))
        .ok()
        .map(|i| V4_ALIASES[i].1)
}

/// The 3.x names 4.0 accepts as aliases of the canonical `module:command` name.
pub fn aliases_of(canonical: &str) -> impl Iterator<Item = &'static str> + '_ {
    V4_ALIASES
        .iter()
        .filter(move |(_, c)| *c == canonical)
        .map(|(a, _)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_and_namespaced() {
        assert!(V4_ALIASES.windows(2).all(|w| w[0].0 < w[1].0));
        // canonical names are `module:command`; a few aliases are too (gflags keeps its
        // 3.x names `gflags:set_gflag`...)
        assert!(V4_ALIASES.iter().all(|(_, c)| c.contains(':')));
        assert_eq!(canonical_name("gflags:set_gflag"), Some("gflags:set"));
        assert_eq!(canonical_name("dlg_list"), Some("dialog:list"));
        assert_eq!(canonical_name("usrloc:dump"), None);
    }
}
