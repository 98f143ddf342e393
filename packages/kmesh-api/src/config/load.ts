/**
 * Configuration text (YAML or JSON) → document → translation. Syntax errors
 * are reported with line and column.
 */
import { parseAllDocuments } from 'yaml';
import { Diagnostics, type Diagnostic } from '../diagnostics.js';
import { translateBootstrap, type Translation } from '../translate.js';
import { checkCapacity } from '../capacity.js';
import { readResourceDocument, xdsDocumentKind } from '../xds/config-dump.js';
import { translateXdsResources, type XdsTranslation } from '../xds/translate.js';

function position(fileName: string | undefined, line: number, col: number): string {
  return `${fileName ?? '<input>'}:${line}:${col}`;
}

/** The yaml library prefixes its messages with the position and follows them with a code excerpt. */
function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function parseYaml(text: string, fileName: string | undefined, d: Diagnostics): unknown {
  // uniqueKeys: a repeated key is an error in Envoy's parser too.
  const docs = parseAllDocuments(text, { merge: true, uniqueKeys: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    for (const e of doc.errors) {
      const [line, col] = e.linePos ? [e.linePos[0].line, e.linePos[0].col] : [1, 1];
      d.error(position(fileName, line, col), `YAML syntax error at line ${line}, column ${col}: ${firstLine(e.message)}`);
    }
    for (const w of doc.warnings) {
      const [line, col] = w.linePos ? [w.linePos[0].line, w.linePos[0].col] : [1, 1];
      d.warn(position(fileName, line, col), `YAML: ${firstLine(w.message)}`);
    }
  }
  if (d.hasErrors) return undefined;
  const contents = list.filter((doc) => doc.contents !== null);
  if (contents.length > 1) {
    d.error(position(fileName, 1, 1), `${contents.length} YAML documents in one file: expected one bootstrap`);
    return undefined;
  }
  try {
    return contents[0]?.toJS({ maxAliasCount: 1000 }) ?? null;
  } catch (err) {
    d.error(position(fileName, 1, 1), `YAML error: ${(err as Error).message}`);
    return undefined;
  }
}

/** Parses YAML or JSON text; undefined with errors in `d` when it is not well formed. */
function parseText(text: string, fileName: string | undefined, d: Diagnostics): unknown {
  if (text.trim() === '') {
    d.error(position(fileName, 1, 1), 'empty configuration: expected an Envoy bootstrap with static_resources, a config_dump or an xDS resource file');
    return undefined;
  }
  let doc: unknown;
  // JSON is the fast path (config dumps are megabytes); YAML, a superset, parses
  // it too and is used for the precise position of a JSON error.
  const head = text.trimStart()[0];
  let parsed = false;
  if (head === '{' || head === '[') {
    try {
      doc = JSON.parse(text);
      parsed = true;
    } catch {
      parsed = false;
    }
  }
  if (!parsed) doc = parseYaml(text, fileName, d);
  return d.hasErrors ? undefined : doc;
}

/** A config_dump or xDS resource file, resource by resource; `errors`/`warnings` are about the document itself. */
export interface XdsReport extends XdsTranslation {
  /** True when the document could be read and no resource was rejected. */
  ok: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

function reportOf(doc: unknown, d: Diagnostics): XdsReport {
  const read = readResourceDocument(doc);
  const t = translateXdsResources(read.resources);
  const errors = [...d.errors, ...read.errors];
  const ok = errors.length === 0 && t.outcomes.every((o) => o.errors.length === 0);
  return { ...t, ok, errors, warnings: [...d.warnings, ...read.warnings] };
}

/**
 * Parses an Envoy admin config_dump (`istioctl proxy-config all -o json`,
 * /config_dump) or an xDS resource file and translates it resource by resource.
 */
export function loadConfigDump(text: string, fileName?: string): XdsReport {
  const d = new Diagnostics();
  const doc = parseText(text, fileName, d);
  if (d.hasErrors) return { ok: false, errors: d.errors, warnings: d.warnings, model: { listeners: [], clusters: [] }, outcomes: [], warming: { clusters: [], listeners: [] } };
  return reportOf(doc, d);
}

/** A report as one Translation: every resource's diagnostics, plus the model's capacity. */
function translationOf(report: XdsReport): Translation {
  const errors = [...report.errors, ...report.outcomes.flatMap((o) => o.errors)];
  const warnings = [...report.warnings, ...report.outcomes.flatMap((o) => o.warnings)];
  if (errors.length === 0) errors.push(...checkCapacity(report.model));
  const resources = { outcomes: report.outcomes, warming: report.warming };
  return errors.length === 0 ? { ok: true, model: report.model, warnings, resources } : { ok: false, errors, warnings, resources };
}

/**
 * Parses a YAML or JSON Envoy bootstrap, config_dump or xDS resource file and
 * translates it. Never throws on bad input.
 */
export function loadConfigText(text: string, fileName?: string): Translation {
  const d = new Diagnostics();
  const doc = parseText(text, fileName, d);
  if (d.hasErrors) return { ok: false, errors: d.errors, warnings: d.warnings };
  if (xdsDocumentKind(doc) !== undefined) return translationOf(reportOf(doc, d));
  const t = translateBootstrap(doc);
  const warnings = [...d.warnings, ...t.warnings];
  return t.ok ? { ok: true, model: t.model, warnings } : { ok: false, errors: t.errors, warnings };
}
