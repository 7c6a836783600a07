// A form built from a JSON Schema object (a flow's input, a review's answer): one field per
// property. Strings, numbers, booleans and enums get their own controls; arrays, objects and
// anything else a JSON textarea. Required fields are marked; defaults are filled in.
"use strict";

/** The schema at `$ref` (only local `#/$defs/...` references), else `schema` itself. */
function resolveRef(schema, root) {
  let current = schema || {};
  for (let depth = 0; current.$ref && depth < 20; depth += 1) {
    const path = current.$ref.replace(/^#\//, "").split("/");
    current = path.reduce((node, key) => (node ? node[key] : undefined), root) || {};
  }
  return current;
}

/** What control a property needs, and whether `null` is allowed. */
function fieldShape(property, root) {
  let schema = resolveRef(property, root);
  let nullable = false;
  const options = schema.anyOf || schema.oneOf;
  if (options) {
    const plain = options.map((o) => resolveRef(o, root)).filter((o) => o.type !== "null");
    nullable = plain.length < options.length;
    schema = plain.length === 1 ? { ...plain[0], ...withoutUnion(schema) } : schema;
  }
  let control = "json";
  if (Array.isArray(schema.enum)) control = "enum";
  else if (schema.type === "string") control = "string";
  else if (schema.type === "integer" || schema.type === "number") control = "number";
  else if (schema.type === "boolean") control = "boolean";
  return { schema, nullable, control };
}

function withoutUnion(schema) {
  const { anyOf, oneOf, ...rest } = schema;
  return rest;
}

/**
 * A form for the object `schema`; `values` pre-fill it (else each property's default).
 * Returns `{ element, read }`: `read()` gives `{ value, errors }` (errors by field name).
 */
function schemaForm(schema, values = {}, prefix = "") {
  const root = schema || {};
  const properties = root.properties || {};
  const required = new Set(root.required || []);
  const readers = [];
  const element = el("div", { class: "schema-form" });
  for (const [name, property] of Object.entries(properties)) {
    const { schema: field, nullable, control } = fieldShape(property, root);
    const id = `${prefix}field-${name}`;
    const given = Object.prototype.hasOwnProperty.call(values, name) ? values[name]
      : Object.prototype.hasOwnProperty.call(field, "default") ? field.default
      : Object.prototype.hasOwnProperty.call(property, "default") ? property.default : undefined;
    const isRequired = required.has(name);
    const input = makeControl(control, field, id, name, given, nullable || !isRequired);
    const problem = el("span", { class: "field-error bad" });
    const typeName = control === "json" ? (field.type || "JSON") : control === "enum" ? "one of" : field.type;
    element.append(el("div", { class: `field ${control}`, "data-field": name },
      el("label", { for: id }, name,
        isRequired ? el("span", { class: "required", title: "required" }, " *") : null,
        el("span", { class: "type muted" }, ` ${typeName || ""}`)),
      input,
      (property.description || field.description)
        ? el("small", { class: "muted hint" }, property.description || field.description) : null,
      problem));
    readers.push(() => {
      problem.textContent = "";
      const result = readControl(control, input, isRequired, nullable);
      if (result.error) problem.textContent = result.error;
      return { name, ...result };
    });
  }
  if (!Object.keys(properties).length) {
    element.append(el("p", { class: "muted" }, "No inputs."));
  }
  function read() {
    const value = {};
    const errors = {};
    for (const reader of readers) {
      const result = reader();
      if (result.error) errors[result.name] = result.error;
      else if (result.present) value[result.name] = result.value;
    }
    return { value, errors };
  }
  return { element, read };
}

function makeControl(control, field, id, name, given, optional) {
  if (control === "enum") {
    const select = el("select", { id, name });
    if (optional) select.append(el("option", { value: "" }, "—"));
    field.enum.forEach((option, index) => select.append(
      el("option", { value: String(index), selected: given === option ? "" : null }, String(option))));
    select.enumValues = field.enum;
    return select;
  }
  if (control === "boolean") {
    return el("input", { id, name, type: "checkbox", checked: given ? "" : null });
  }
  if (control === "number") {
    return el("input", {
      id, name, type: "number", step: field.type === "integer" ? "1" : "any",
      value: given === undefined || given === null ? null : String(given),
      min: field.minimum, max: field.maximum,
    });
  }
  if (control === "string") {
    const area = el("textarea", { id, name, rows: "2", maxlength: field.maxLength });
    area.value = given === undefined || given === null ? "" : String(given);
    return area;
  }
  const area = el("textarea", { id, name, rows: "3", class: "json", spellcheck: "false" });
  area.value = given === undefined ? "" : JSON.stringify(given, null, 2);
  return area;
}

function readControl(control, input, isRequired, nullable) {
  if (control === "boolean") return { present: true, value: input.checked };
  const text = input.value;
  if (text.trim() === "" && (control !== "string" || text === "")) {
    if (!isRequired) return { present: false };
    return nullable ? { present: true, value: null } : { error: "required" };
  }
  if (control === "enum") return { present: true, value: input.enumValues[Number(text)] };
  if (control === "number") {
    const number = Number(text);
    return Number.isFinite(number) ? { present: true, value: number } : { error: "not a number" };
  }
  if (control === "string") return { present: true, value: text };
  try {
    return { present: true, value: JSON.parse(text) };
  } catch (error) {
    return { error: `not JSON: ${error.message}` };
  }
}
