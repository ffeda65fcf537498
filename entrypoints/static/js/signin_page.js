// Signing in: ask for a code by name, then trade it for a session. On the embedded default a
// demo panel joins the simulated channel and shows the PMs CyTube would have shown in chat,
// to the browser that joined only.
import { $, api, channel, h, meta, say, watchHealth, wireTopBar } from "./common.js";

const simulated = meta("simulated") === "yes";
const name = () => $("name").value.trim();

function showVerify(on) {
  $("verify-form").hidden = !on;
  if (on) $("code").focus();
}

$("code-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("verify-error"), ""); $("block-offer").hidden = true;
  if (!name()) return say($("name-error"), "Type your CyTube name.");
  say($("name-error"), "");
  try {
    const sent = await api("/api/v1/signin/code", { method: "POST", body: { name: name() } });
    say($("code-msg"), sent.message, true);
    showVerify(true);
  } catch (e) {
    say($("code-msg"), e.code === "not_in_channel" && simulated ? `${e.message} (Here: the demo panel's Join button.)` : e.message);
  }
  refreshDemo();
});

$("verify-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("verify-error"), ""); $("block-offer").hidden = true;
  try {
    await api("/api/v1/signin/verify", { method: "POST", body: { name: name(), code: $("code").value } });
    location.href = $("code-form").dataset.next || "/";
  } catch (e) {
    say($("verify-error"), e.message);
    if (e.code === "otp_not_requested") { $("block-text").textContent = e.message; $("block-offer").hidden = false; }
  }
});

$("block-btn").addEventListener("click", async () => {
  try {
    const b = await api("/api/v1/signin/block-ip", { method: "POST" });
    $("block-text").textContent = `This address (${b.ip}) can ask for no codes until ${new Date(b.until).toLocaleString()}.`;
    $("block-btn").hidden = true;
  } catch (e) { $("block-text").textContent = e.message; }
});
$("block-no").addEventListener("click", () => { $("block-offer").hidden = true; });
$("again-btn").addEventListener("click", () => { showVerify(false); $("name").focus(); });
$("have-code").addEventListener("click", () => showVerify(true));

// ---- the demo panel (simulator only) ----------------------------------------------------------
// The server shows a name's PMs only to the browser that joined as it (its HttpOnly demo
// cookie); the names this browser joined are remembered here so it asks for no others.
const JOINED = `wq-demo-joined:${channel}`;
const joined = () => { try { return JSON.parse(localStorage.getItem(JOINED) || "[]"); } catch { return []; } };
const remember = (n) => { try { localStorage.setItem(JOINED, JSON.stringify([...new Set([...joined(), n.toLowerCase()])])); } catch { /* private mode */ } };

async function join() {
  if (!name()) return say($("demo-state"), "Type your name first.");
  try {
    await api(`/api/v1/sim/${encodeURIComponent(channel)}/demo/join`, { method: "POST", body: { name: name() } });
    remember(name());
    say($("demo-state"), `${name()} is in the simulated channel ${channel}. Now send yourself a code.`, true);
    refreshDemo();
  } catch (e) { say($("demo-state"), e.message); }
}

async function refreshDemo() {
  if (!simulated || !name()) return;
  if (!joined().includes(name().toLowerCase())) {
    $("demo-pms").replaceChildren(h("p", { class: "muted" }, `Join as ${name()} first: the PMs show only in the browser that joined.`));
    return;
  }
  let pms = [];
  try { pms = await api(`/api/v1/sim/${encodeURIComponent(channel)}/pms?to=${encodeURIComponent(name())}`); } catch (e) {
    if (e.status === 403) $("demo-pms").replaceChildren(h("p", { class: "error" }, e.message));
    return;
  }
  $("demo-pms").replaceChildren(...(pms.length ? pms.slice(0, 3).map((p) => {
    const code = (p.message.match(/code is ([A-Z0-9]{6,})/) || [])[1];
    return h("div", { class: "pm" },
      h("div", { class: "muted" }, `To ${p.to} · ${new Date(p.at).toLocaleTimeString()}`, p.delivered ? "" : " · not delivered: not in the channel"),
      code ? ["Your code: ", h("span", { class: "code" }, code), " ", h("button", { type: "button", class: "btn btn-small", onclick: () => { $("code").value = code; showVerify(true); } }, "Use it")] : p.message);
  }) : [h("p", { class: "muted" }, "None yet.")]));
}

if (simulated) {
  $("demo-join").addEventListener("click", join);
  $("name").addEventListener("change", refreshDemo);
  setInterval(refreshDemo, 2000);
}
wireTopBar();
watchHealth();
