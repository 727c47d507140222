// Moved to src/net/address.ts (shared by the sandbox, callbacks and alerts); kept for old imports.
export { isRefusedAddress, refusedAddressReason } from '../../net/address.ts';
