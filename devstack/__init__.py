"""The processes that run Tickler's stack for the tests and the benchmarks, outside the app.

`processes`: child processes (Proc), a sidecar and its app (DaprPair), the Tansu broker, an
embedded PostgreSQL's pg_ctl, free ports and readiness polling. `stack`: the whole app as
`tickler dev` runs it. `actor_pair`, `workflow_pair`, `pubsub` and `state_store`: a sidecar
paired with one of the small SDK apps in `apps/`, for the sidecar suites and benches.

Nothing in the app (actors, api, domain, service, store, workflows, sidecar) imports this
package; it imports the app.
"""
