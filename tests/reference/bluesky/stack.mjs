// The reference Bluesky stack for the contract tests: @atproto/dev-env's TestNetwork (PLC, PDS
// and AppView, all on loopback), with accounts driven into the states that
// tests/contracts/bluesky.json names.
//
// Protocol: one JSON command per line on stdin, one answer per line on stdout, prefixed with
// "WMSB " (dev-env's own logging goes to stderr).
//   {"cmd": "start"}                 -> {"appview": url, "plc": url, "pds": url}
//   {"cmd": "setup", "states": [..]} -> {"accounts": {state: {"handle", "did", "link"}}}
//   {"cmd": "advance"}               -> {} (the second phase: what happens after the first check)
//   {"cmd": "stop"}                  -> {} and exit
// Needs DB_POSTGRES_URL and REDIS_HOST (set, but no Redis is used) in the environment.
import readline from 'node:readline'
import { TestNetwork } from '@atproto/dev-env'
import { TID } from '@atproto/common-web'
import * as plc from '@did-plc/lib'

console.log = console.error // keep stdout for the protocol
const say = (obj) => process.stdout.write('WMSB ' + JSON.stringify(obj) + '\n')

const DAY = 24 * 3600 * 1000
const LONG_AGO = new Date(Date.now() - 3 * 365 * DAY) // well past any inactivity limit
const PASSWORD = 'contract-pass'

let network
let sc
let agent
const accounts = {} // state -> {handle, did, link}
const later = [] // second-phase steps
const json = (headers) => ({ encoding: 'application/json', headers })

async function makeAccount(name) {
  const handle = `${name}.test`
  const acc = await sc.createAccount(name, {
    handle,
    email: `${name}@test.com`,
    password: PASSWORD,
  })
  return { handle, did: acc.did }
}

// A post as a client writes it: the PDS picks the record key (a TID of the real moment).
async function post(did, text, createdAt = new Date()) {
  return sc.post(did, text, undefined, undefined, undefined, {
    createdAt: createdAt.toISOString(),
  })
}

// A post that is old by every sign: its createdAt and its record key (TID) say LONG_AGO.
async function oldPost(did, text, when = LONG_AGO, clock = 0) {
  const rkey = TID.fromTime(when.getTime() * 1000, clock).toString()
  const res = await agent.com.atproto.repo.createRecord(
    {
      repo: did,
      collection: 'app.bsky.feed.post',
      rkey,
      record: { $type: 'app.bsky.feed.post', text, createdAt: when.toISOString() },
    },
    json(sc.getHeaders(did)),
  )
  return { uri: res.data.uri, cid: res.data.cid, rkey }
}

const admin = () => json(network.pds.adminAuthHeaders())
const repoRef = (did) => ({ $type: 'com.atproto.admin.defs#repoRef', did })

async function pdsTakedown(did) {
  await agent.com.atproto.admin.updateSubjectStatus(
    { subject: repoRef(did), takedown: { applied: true, ref: 'contract' } },
    admin(),
  )
}

async function deleteAccount(did) {
  await agent.com.atproto.admin.deleteAccount({ did }, admin())
}

let other // a second account whose posts the states reply to and repost

// Each state: first phase (before the bot's first check), then optional `later` steps.
const STATES = {
  async alive(name) {
    const a = await makeAccount(name)
    await post(a.did, 'hello today')
    return a
  },
  async quiet(name) {
    const a = await makeAccount(name)
    await oldPost(a.did, 'long ago')
    return a
  },
  async backdated(name) {
    // Written today, with a createdAt from long ago (an imported archive, say).
    const a = await makeAccount(name)
    await post(a.did, 'imported', LONG_AGO)
    return a
  },
  async replying(name) {
    const a = await makeAccount(name)
    await oldPost(a.did, 'long ago')
    const parent = other.post.ref.raw
    await sc.agent.app.bsky.feed.post.create(
      { repo: a.did },
      { text: 'a reply today', reply: { root: parent, parent }, createdAt: new Date().toISOString() },
      sc.getHeaders(a.did),
    )
    return a
  },
  async reposting(name) {
    const a = await makeAccount(name)
    const own = await oldPost(a.did, 'long ago')
    await sc.repost(a.did, { raw: { uri: own.uri, cid: own.cid } })
    await sc.repost(a.did, { raw: other.old })
    return a
  },
  async never_posted(name) {
    return makeAccount(name)
  },
  async renamed(name) {
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () => sc.updateHandle(a.did, `${name}-new.test`))
    return { ...a, new_handle: `${name}-new.test` }
  },
  async taken_over(name) {
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () => {
      await sc.updateHandle(a.did, `${name}-moved.test`)
      // The AppView indexes the rename before the old handle is taken, as it would in the
      // real world (days apart): done at once, its handle check of the renamed DID could
      // read the old handle from its cache, find the thief, and show handle.invalid.
      await network.processAll()
      const thief = await sc.createAccount(`${name}-thief`, {
        handle: a.handle,
        email: `${name}-thief@test.com`,
        password: PASSWORD,
      })
      await post(thief.did, 'mine now')
    })
    return { ...a, new_handle: `${name}-moved.test` }
  },
  async deactivated(name) {
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () =>
      agent.com.atproto.server.deactivateAccount({}, json(sc.getHeaders(a.did))),
    )
    return a
  },
  async takendown(name) {
    // Taken down on the PDS and on the AppView (what the moderation service does).
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () => {
      await pdsTakedown(a.did)
      await network.bsky.ctx.dataplane.takedownActor({ did: a.did })
    })
    return a
  },
  async takendown_pds_only(name) {
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () => pdsTakedown(a.did))
    return a
  },
  async deleted_unknown(name) {
    // Deleted before the bot ever saw it: only the handle is known.
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    await deleteAccount(a.did)
    return a
  },
  async deleted_known(name) {
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () => deleteAccount(a.did))
    return a
  },
  async deleted_by_did(name) {
    // The page links the DID itself, and the account is already deleted.
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    await deleteAccount(a.did)
    return { ...a, link: `https://bsky.app/profile/${a.did}` }
  },
  async tombstoned(name) {
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () => {
      await deleteAccount(a.did)
      await new plc.Client(network.plc.url).tombstone(a.did, network.pds.ctx.plcRotationKey)
    })
    return a
  },
  async unregistered_did() {
    const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    return { handle: null, did, link: `https://bsky.app/profile/${did}` }
  },
  async did_web() {
    const did = 'did:web:nobody.example.com'
    return { handle: null, did, link: `https://bsky.app/profile/${did}` }
  },
  async handle_invalid(name) {
    // The DID document stops naming the handle (like a domain's TXT record removed): the
    // AppView's two-way check fails on the next identity event.
    const a = await makeAccount(name)
    await post(a.did, 'hello')
    later.push(async () => {
      const client = new plc.Client(network.plc.url)
      await client.updateHandle(a.did, network.pds.ctx.plcRotationKey, `${name}-elsewhere.test`)
      await network.pds.ctx.sequencer.sequenceIdentity(a.did)
    })
    return a
  },
  async post_swapped(name) {
    // Two old posts; later one is deleted and a new one written: postsCount stays 2.
    const a = await makeAccount(name)
    const first = await oldPost(a.did, 'long ago 1', LONG_AGO, 1)
    await oldPost(a.did, 'long ago 2', LONG_AGO, 2)
    later.push(async () => {
      await agent.com.atproto.repo.deleteRecord(
        { repo: a.did, collection: 'app.bsky.feed.post', rkey: first.rkey },
        json(sc.getHeaders(a.did)),
      )
      await post(a.did, 'back today')
    })
    return a
  },
}

async function start() {
  network = await TestNetwork.create({ dbPostgresSchema: "contract" })
  sc = network.getSeedClient()
  agent = sc.agent
  return {
    appview: network.bsky.url,
    plc: network.plc.url,
    pds: network.pds.url,
    pdsPublicUrl: network.pds.ctx.cfg.service.publicUrl,
  }
}

async function setup(states) {
  const o = await sc.createAccount('bystander', {
    handle: 'bystander.test',
    email: 'bystander@test.com',
    password: PASSWORD,
  })
  other = { did: o.did, post: await post(o.did, 'something to answer') }
  other.old = await oldPost(o.did, 'an old post of someone else')
  for (const [index, state] of states.entries()) {
    const recipe = STATES[state]
    if (!recipe) throw new Error(`unknown state ${state}`)
    const name = `case${index}` // handles' first label must stay short
    const a = await recipe(name)
    accounts[state] = { link: `https://bsky.app/profile/${a.handle}`, ...a }
  }
  await network.processAll()
  return { accounts }
}

async function advance() {
  for (const step of later) await step()
  later.length = 0
  await network.processAll()
  return {}
}

const COMMANDS = { start, setup, advance }
const rl = readline.createInterface({ input: process.stdin })
for await (const line of rl) {
  if (!line.trim()) continue
  const msg = JSON.parse(line)
  if (msg.cmd === 'stop') break
  try {
    say({ ok: true, ...(await COMMANDS[msg.cmd](...(msg.states ? [msg.states] : []))) })
  } catch (err) {
    say({ ok: false, error: String(err?.stack ?? err) })
  }
}
if (network) await network.close().catch((err) => console.error(err))
say({ ok: true })
process.exit(0)
