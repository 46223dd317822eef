-- Argo CD health check for ModelRollout (rollouts.mlops.dev/v1alpha1), docs/argocd.md.
-- Register it in argocd-cm under resource.customizations.health.rollouts.mlops.dev_ModelRollout.
-- Argo CD sets the global `obj` to the live object; the script returns {status, message}.
-- Order: not yet observed -> Progressing; Degraded=True -> Degraded; Paused=True -> Suspended;
-- Progressing=True -> Progressing; Healthy=True for this generation -> Healthy; else Progressing.
-- Written for Lua 5.1 (Argo CD's gopher-lua) and tested with 5.1 and 5.4.

local hs = {}

local function condition(conditions, kind)
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if reason ~= "" then
    return reason
  end
  if message ~= "" then
    return message
  end
  return fallback
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the rollout"
  return hs
end

if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    .. " (observed " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local conditions = status.conditions or {}
local degraded = condition(conditions, "Degraded")
local paused = condition(conditions, "Paused")
local progressing = condition(conditions, "Progressing")
local healthy = condition(conditions, "Healthy")

if is_true(degraded) then
  hs.status = "Degraded"
  hs.message = describe(degraded, "Degraded")
  return hs
end

if is_true(paused) then
  hs.status = "Suspended"
  hs.message = describe(paused, "Paused")
  return hs
end

if is_true(progressing) then
  hs.status = "Progressing"
  hs.message = describe(progressing, "Rolling out a candidate")
  return hs
end

if is_true(healthy) and (healthy.observedGeneration == nil or generation == nil
    or healthy.observedGeneration == generation) then
  hs.status = "Healthy"
  hs.message = describe(healthy, "Healthy")
  return hs
end

hs.status = "Progressing"
hs.message = describe(healthy, "Waiting for the stable revision to become ready")
return hs
