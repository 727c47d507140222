// Network policy for sandboxed processes. A sandboxed process NEVER shares the host network: it
// always gets its own, empty network namespace (`--unshare-net`, loopback only). A process that
// is allowed network (git clone/fetch/push, or every process once SANDBOX_NETWORK_ALLOW is set)
// additionally gets a unix socket bound into the sandbox that leads to the egress proxy,
// plus a tiny forwarder (FORWARDER_SOURCE) that listens on the sandbox's own 127.0.0.1 and sets
// HTTPS_PROXY/HTTP_PROXY/ALL_PROXY (and an ssh ProxyCommand) for the command.
//
// The proxy accepts only `CONNECT host:port`, checks the host against the allowlist, resolves it
// ONCE, refuses if any resolved address is private, loopback, link-local (169.254.0.0/16, the
// cloud metadata service), CGNAT, multicast or otherwise reserved, and then connects to that
// exact address (no second resolution, so no DNS rebinding). Anything that ignores the proxy
// settings has no route at all: it fails inside the sandbox without sending a packet.
//
// Split by job: src/net/address.ts (refused address ranges), allowlist.ts (SANDBOX_NETWORK_ALLOW
// and host checks), egress-proxy.ts (a gate), egress-pool.ts (one gate per session), forwarder.ts
// (the in-sandbox forwarder).
export {
  checkHostName,
  type LookupFn,
  parseAllowList,
  parseAuthority,
  policyFor,
  resolveDestination,
} from './allowlist.ts';
export { type EgressProxy, startEgressProxy } from './egress-proxy.ts';
export { FORWARDER_SOURCE } from './forwarder.ts';
