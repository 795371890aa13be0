import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import type { GossipsubOpts } from '@libp2p/gossipsub'

/**
 * Gossipsub options under which a message a topic validator rejects counts against its sender.
 * The penalty is squared: one costs -10, three cross gossipsub's graylist threshold (-80) and the
 * sender's messages are ignored until it decays (x0.9 per second). One alone must not cut off an
 * honest node with, say, a version or config mismatch; a stream of them must.
 */
export function penaliseInvalidMessages (topics: readonly string[]): Partial<GossipsubOpts> {
  const params = createTopicScoreParams({
    topicWeight: 1,
    timeInMeshWeight: 0,
    firstMessageDeliveriesWeight: 0,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: -10,
    invalidMessageDeliveriesDecay: 0.9
  })
  return { scoreParams: { topics: Object.fromEntries(topics.map(topic => [topic, params])) } }
}
