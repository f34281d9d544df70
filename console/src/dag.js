// A workflow's DAG as SVG: nodes in columns by their depth (the longest
// path from a node without sources), edges from source to destination.
import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 180;
const H = 56;
const GAP_X = 70;
const GAP_Y = 24;

const svg = (tag, attrs = {}, ...children) => {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
};

// nodes: [{uuid, sources: [uuid], label, state, href}]
export function drawDag(nodes, { title = "Workflow" } = {}) {
  const byId = new Map(nodes.map((n) => [n.uuid, n]));
  const depth = new Map();
  const depthOf = (node, seen = new Set()) => {
    if (depth.has(node.uuid)) return depth.get(node.uuid);
    if (seen.has(node.uuid)) return 0; // never for a DAG; guards a bad answer
    seen.add(node.uuid);
    const sources = (node.sources || []).map((s) => byId.get(s)).filter(Boolean);
    const d = sources.length ? 1 + Math.max(...sources.map((s) => depthOf(s, seen))) : 0;
    depth.set(node.uuid, d);
    return d;
  };
  const columns = [];
  for (const node of nodes) {
    const d = depthOf(node);
    (columns[d] = columns[d] || []).push(node);
  }
  const place = new Map();
  columns.forEach((column, c) => column.forEach((node, r) => place.set(node.uuid, { x: 10 + c * (W + GAP_X), y: 10 + r * (H + GAP_Y) })));
  const width = 20 + columns.length * W + Math.max(0, columns.length - 1) * GAP_X;
  const height = 20 + Math.max(1, ...columns.map((c) => c.length)) * (H + GAP_Y) - GAP_Y;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "dag", "aria-label": `${title}: ${nodes.length} nodes` });
  root.append(
    svg("title", {}, title),
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#555" }))),
  );
  for (const node of nodes) {
    for (const source of node.sources || []) {
      const a = place.get(source);
      const b = place.get(node.uuid);
      if (!a || !b) continue;
      const x1 = a.x + W;
      const y1 = a.y + H / 2;
      const x2 = b.x;
      const y2 = b.y + H / 2;
      const mx = (x1 + x2) / 2;
      root.append(svg("path", { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, class: "edge", "marker-end": "url(#arrow)" }));
    }
  }
  for (const node of nodes) {
    const { x, y } = place.get(node.uuid);
    const state = node.state || "";
    const group = svg(
      "g",
      { class: `node state-${state.toLowerCase()}`, "data-node": node.uuid, "data-state": state },
      svg("rect", { x, y, width: W, height: H, rx: 8 }),
      svg("text", { x: x + 10, y: y + 22, class: "label" }, node.label.length > 22 ? node.label.slice(0, 21) + "…" : node.label),
      svg("text", { x: x + 10, y: y + 42, class: "node-state" }, state || "no run"),
    );
    const item = node.href ? svg("a", { href: node.href, "aria-label": `${node.label}: ${state || "no run"}` }, group) : group;
    root.append(item);
  }
  return h("div", { class: "scroll dag-box" }, root);
}
