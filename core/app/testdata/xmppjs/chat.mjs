// chat.mjs JID PASSWORD PEER: log in with xmpp.js (@xmpp/client) at
// XMPP_SERVICE (ws://… for RFC 7395 WebSocket, xmpp://host:port for
// STARTTLS), send PEER a chat message, wait for a chat reply from PEER and
// print it. Exits non-zero on any failure. Used by
// core/app/sendxmpp_e2e_test.go. The broker's certificate is self-signed:
// the test sets NODE_TLS_REJECT_UNAUTHORIZED=0.
import { client, xml } from "@xmpp/client";

const [jid, password, peer] = process.argv.slice(2);
const [username, domain] = jid.split("@");
const xmpp = client({
  service: process.env.XMPP_SERVICE,
  domain,
  username,
  password,
  resource: "xmppjs",
});

const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 20000);

xmpp.on("error", (err) => {
  console.error("error:", err.condition || err.message);
  process.exit(1);
});

xmpp.on("stanza", async (stanza) => {
  if (!stanza.is("message") || stanza.attrs.type !== "chat") return;
  if (!String(stanza.attrs.from).startsWith(peer + "/")) return;
  console.log("REPLY", stanza.getChildText("body"));
  clearTimeout(timer);
  await xmpp.stop();
  process.exit(0);
});

xmpp.on("online", async (address) => {
  console.log("BOUND", address.toString());
  await xmpp.send(xml("presence"));
  await xmpp.send(xml("message", { type: "chat", to: peer }, xml("body", {}, "hello from xmpp.js")));
});

await xmpp.start();
