export { Membership, createMembership, type Member, type MemberState, type MembershipInit, type MembershipComponents, type MembershipCounters } from './membership.ts'
export { MEMBERSHIP_TOPIC, encodeMembershipMessage, decodeMembershipMessage, type LoadReport, type Heartbeat, type MembershipMessage } from './wire.ts'
export { machineLoadReport, type TaskLoad } from './load.ts'
export { probeTcpAddrs, probeUntilSettled, type ProbeResult } from './probe.ts'
