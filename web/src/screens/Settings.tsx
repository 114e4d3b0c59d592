// The tenant's assistant settings (Get/UpdateAssistantSettings): editable by owners and admins, read-only for
// everyone else. Only the fields changed are sent, named in the update mask.

import { useEffect, useState, type FormEvent } from "react";
import { describeError } from "../api/errors";
import { useApi, useMe } from "../app/context";
import { useQuery } from "../app/useQuery";
import { ErrorNote, Loading, PageHeading, When } from "../components/ui";
import type { AssistantSettings } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { canAdminister } from "../session/roles";

interface Form {
  providers: string;
  autoApprove: string[];
  budget: string;
  runsPerMinute: string;
}

function toForm(s: AssistantSettings): Form {
  return {
    providers: s.providers.join("\n"),
    autoApprove: [...s.autoApproveActions],
    budget: s.monthlyTokenBudget.toString(),
    runsPerMinute: String(s.runsPerMinute),
  };
}

const lines = (text: string) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/** The update mask and values for what changed between `before` and `form`. */
export function changes(before: AssistantSettings, form: Form) {
  const paths: string[] = [];
  const providers = lines(form.providers);
  if (providers.join("\n") !== before.providers.join("\n")) paths.push("providers");
  const autoApprove = [...form.autoApprove].sort();
  if (autoApprove.join(",") !== [...before.autoApproveActions].sort().join(",")) paths.push("auto_approve_actions");
  const budget = BigInt(form.budget || "0");
  if (budget !== before.monthlyTokenBudget) paths.push("monthly_token_budget");
  const runsPerMinute = Number(form.runsPerMinute || "0");
  if (runsPerMinute !== before.runsPerMinute) paths.push("runs_per_minute");
  return {
    paths,
    settings: { providers, autoApproveActions: autoApprove, monthlyTokenBudget: budget, runsPerMinute },
  };
}

export default function Settings() {
  const api = useApi();
  const { role } = useMe();
  const editable = canAdminister(role);
  const [version, setVersion] = useState(0);
  const settings = useQuery(
    async (signal) => (await api.orchestrator.getAssistantSettings({}, { signal })).settings,
    `settings-${version}`,
  );
  const actions = useQuery(
    async (signal) => (await api.connectors.listActions({ pageSize: 1000 }, { signal })).actions,
    "actions",
  );
  const [form, setForm] = useState<Form>();
  const [saving, setSaving] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  useEffect(() => {
    if (settings.data) setForm(toForm(settings.data));
  }, [settings.data]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (!settings.data || !form) return;
    let change;
    try {
      change = changes(settings.data, form);
    } catch {
      setMessage({ ok: false, text: "The token budget must be a whole number." });
      return;
    }
    if (change.paths.length === 0) {
      setMessage({ ok: true, text: "Nothing to save." });
      return;
    }
    setSaving(true);
    setMessage(undefined);
    try {
      await api.orchestrator.updateAssistantSettings({ settings: change.settings, updateMask: { paths: change.paths } });
      setMessage({ ok: true, text: "Saved. The settings apply from the next run." });
      setVersion((v) => v + 1);
    } catch (e) {
      setMessage({ ok: false, text: describeError(e) });
    } finally {
      setSaving(false);
    }
  };

  const approvable = (actions.data ?? []).filter((a) => a.needsApproval && !a.readOnly).map((a) => a.name);
  const choices = [...new Set([...approvable, ...(form?.autoApprove ?? [])])].sort();

  return (
    <>
      <PageHeading>Assistant settings</PageHeading>
      {!editable && (
        <p className="notice" data-testid="read-only">
          Only owners and admins can change these settings.
        </p>
      )}
      <ErrorNote error={settings.error} />
      {settings.loading && !settings.data && <Loading what="settings" />}
      {settings.data && form && (
        <form onSubmit={save} className="settings">
          <fieldset disabled={!editable || saving}>
            <legend className="visually-hidden">Assistant settings</legend>
            <label htmlFor="providers">Model providers, in order</label>
            <textarea
              id="providers"
              rows={3}
              value={form.providers}
              onChange={(e) => setForm({ ...form, providers: e.target.value })}
              aria-describedby="providers-hint"
              spellCheck={false}
            />
            <p id="providers-hint" className="hint">
              One <code>provider/model</code> per line, such as <code>openai/gpt-4o-mini</code>. Empty: the offline
              assistant only.
            </p>

            <fieldset className="group">
              <legend>Actions that run without approval</legend>
              {choices.length === 0 && <p className="muted small">No actions need approval.</p>}
              {choices.map((name) => (
                <div className="checkbox" key={name}>
                  <input
                    id={`auto-${name}`}
                    type="checkbox"
                    checked={form.autoApprove.includes(name)}
                    onChange={(e) =>
                      setForm({
                        ...form,
                        autoApprove: e.target.checked
                          ? [...form.autoApprove, name]
                          : form.autoApprove.filter((n) => n !== name),
                      })
                    }
                  />
                  <label htmlFor={`auto-${name}`}>
                    <code>{name}</code>
                  </label>
                </div>
              ))}
            </fieldset>

            <label htmlFor="budget">Monthly token budget</label>
            <input
              id="budget"
              inputMode="numeric"
              pattern="[0-9]*"
              value={form.budget}
              onChange={(e) => setForm({ ...form, budget: e.target.value })}
              aria-describedby="budget-hint"
            />
            <p id="budget-hint" className="hint">
              0 means no limit. Used this month: {settings.data.tokensUsedThisMonth.toString()} tokens.
            </p>

            <label htmlFor="rpm">Questions per minute</label>
            <input
              id="rpm"
              type="number"
              min={1}
              max={10000}
              value={form.runsPerMinute}
              onChange={(e) => setForm({ ...form, runsPerMinute: e.target.value })}
            />
            {editable && (
              <button type="submit" className="primary">
                {saving ? "Saving…" : "Save"}
              </button>
            )}
          </fieldset>
          {message && (
            <p className={message.ok ? "notice" : "error"} role={message.ok ? "status" : "alert"}>
              {message.text}
            </p>
          )}
          <p className="muted small">
            Last changed: <When ts={settings.data.updateTime} empty="never (defaults)" />
          </p>
        </form>
      )}
    </>
  );
}
