// The agent-run page: goal, plan, steps with token use against the budget, approvals.
"use strict";
(function () {
  const { $, api, el } = Hamlet;
  const A = { pending: null, refreshing: false, again: false, approvals: false, ended: false };

  const num = (n) => Number(n || 0).toLocaleString("en-US");

  function stepItem(e) {
    if (e.type === "child") {
      const c = e.child;
      return el("li", { class: "child", "data-step": e.step, "data-type": "child", "data-agent": c.agent },
        el("b", { text: `sub-agent ${c.agent}` }),
        el("span", { class: "muted", text: ` · ${c.max_steps} steps, ${num(c.max_tokens)} tokens · workspace ${c.workspace}/ · run ${c.run_dir}` }),
        el("div", { class: "field", text: c.goal }),
        e.entries.length ? el("ol", { class: "child-steps" }, ...e.entries.map(stepItem)) : null,
        e.end ? el("div", { class: "muted", text: `ended: ${e.end.reason}: ${e.end.message}` }) : null);
    }
    if (e.type === "reflect") {
      return el("li", { class: "reflect", "data-step": e.step, "data-type": "reflect" },
        el("span", { class: "tokens", text: `${num(e.usage.prompt_tokens + e.usage.completion_tokens)} tokens` }),
        el("b", { text: `reflection after step ${e.step}` }), el("span", { class: "muted", text: ` (${e.reason})` }),
        el("pre", { text: e.plan }));
    }
    const a = e.action;
    const obsBad = e.observation.status !== "ok";
    const field = (label, text, cls) => text && String(text).trim()
      ? el("div", { class: `field ${cls || ""}` }, el("span", { class: "label", text: label }), el("span", { class: "value", text }))
      : null;
    return el("li", { class: "step", "data-step": e.step, "data-type": "step", "data-status": e.observation.status },
      el("span", { class: "tokens", text: `${num(e.usage.prompt_tokens + e.usage.completion_tokens)} tokens (${num(e.usage.cached_tokens)} cached)` }),
      el("b", { text: `step ${e.step}` }),
      a ? field("thought", a.thoughts.reasoning, "thought") : field("reply", e.raw, "raw"),
      a ? field("plan", a.thoughts.plan, "plan") : null,
      a ? field("criticism", a.thoughts.criticism, "criticism") : null,
      a ? field("action", `${a.tool} ${JSON.stringify(a.args)}`, "action") : null,
      el("div", { class: `field observation ${obsBad ? "obs-bad" : "obs-ok"}` },
        el("span", { class: "label", text: `observation (${e.observation.status})` }),
        el("pre", { text: e.observation.text })));
  }

  function render(d) {
    const s = d.start || {};
    $("title").textContent = `agent run · ${s.agent || "…"}`;
    $("subtitle").textContent = d.run_dir;
    $("goal").textContent = s.goal || "";
    $("agent-meta").textContent = `model ${s.model || "?"} · workspace ${s.workspace || "?"} · tools ${(s.tools || []).join(", ")}`;
    const maxSteps = d.budget.max_steps, maxTokens = d.budget.max_tokens;
    $("budget-steps").textContent = maxSteps ? `${d.steps} / ${maxSteps}` : `${d.steps}`;
    $("budget-tokens").textContent = maxTokens ? `${num(d.tokens)} / ${num(maxTokens)}` : num(d.tokens);
    $("budget-steps").dataset.used = d.steps;
    $("budget-tokens").dataset.used = d.tokens;
    $("steps-bar").max = maxSteps || Math.max(1, d.steps); $("steps-bar").value = d.steps;
    $("tokens-bar").max = maxTokens || Math.max(1, d.tokens); $("tokens-bar").value = d.tokens;
    $("plan").textContent = d.plan ? d.plan[1] : "no plan yet";
    $("plan-from").textContent = d.plan ? `(${d.plan[0]})` : "";
    $("steps").replaceChildren(...d.entries.map(stepItem));
    A.ended = d.ended;
    $("live").hidden = d.ended;
    const end = $("end");
    if (d.end) {
      end.hidden = false;
      end.dataset.reason = d.end.reason;
      end.replaceChildren(el("b", { text: `ended: ${d.end.reason}` }), el("div", { text: d.end.message }),
        d.end.answer ? el("pre", { id: "answer", text: d.end.answer }) : null);
    } else {
      end.hidden = true;
    }
  }

  async function refresh() {
    if (A.refreshing) { A.again = true; return; }
    A.refreshing = true;
    try {
      const d = await api("/api/agent/steps");
      A.approvals = d.approvals;
      render(d);
    } catch (e) {
      Hamlet.status(e.message);
    } finally {
      A.refreshing = false;
    }
    if (A.again) { A.again = false; refresh(); }
  }

  function showPending(p) {
    A.pending = p;
    const box = $("approval");
    box.hidden = !p;
    if (!p) { delete box.dataset.id; return; }
    box.dataset.id = p.id;
    box.dataset.tool = p.action.tool;
    $("approval-text").textContent = `Step ${p.step} wants to run ${p.action.tool}.`;
    $("approval-args").textContent = JSON.stringify(p.action.args, null, 2);
  }

  async function pollApproval() {
    try {
      const r = await api("/api/agent/approval");
      const p = r.pending;
      if ((p && p.id) !== (A.pending && A.pending.id)) showPending(p);
    } catch (e) {
      Hamlet.status(e.message);
    }
    if (!A.ended || A.pending) setTimeout(pollApproval, 300);
  }

  async function answer(kind) {
    if (!A.pending) return;
    const body = { id: A.pending.id, answer: kind };
    if (kind === "decline") body.feedback = $("approve-feedback").value;
    try {
      await api("/api/agent/approval", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      showPending(null);
      $("approve-feedback").value = "";
      Hamlet.status(`answered: ${kind}`);
    } catch (e) {
      Hamlet.status(e.message);
    }
  }

  Hamlet.agent = {
    async start(summary) {
      $("agent-page").hidden = false;
      $("approve-run").onclick = () => answer("run");
      $("approve-all").onclick = () => answer("run_all");
      $("approve-decline").onclick = () => answer("decline");
      $("approve-quit").onclick = () => answer("quit");
      await refresh();
      Hamlet.follow(summary.records, () => refresh());
      if (A.approvals) pollApproval();
    },
    state: A,
  };
})();
