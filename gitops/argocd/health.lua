-- Argo CD health check for bms.operator.dev/BmsJob.
-- Healthy when Ready=True, Degraded when Failed=True or Stalled=True,
-- Progressing otherwise (including before the controller has observed the
-- latest generation). Uses only Lua's base and table libraries, which is all
-- Argo CD opens for health checks configured in argocd-cm.
local hs = {}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function isTrue(condition)
  return condition ~= nil and condition.status == "True"
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local reason = condition.reason or ""
  local message = condition.message or ""
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

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to report the job's status"
  return hs
end

local generation = tonumber(obj.metadata.generation)
local observed = tonumber(status.observedGeneration)
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. generation
    .. " (status describes generation " .. observed .. ")"
  return hs
end

local failed = findCondition(status.conditions, "Failed")
if isTrue(failed) then
  hs.status = "Degraded"
  hs.message = describe(failed, "Job failed")
  return hs
end

local stalled = findCondition(status.conditions, "Stalled")
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Job needs attention")
  return hs
end

local ready = findCondition(status.conditions, "Ready")
if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = describe(ready, "Job succeeded")
  return hs
end

local reconciling = findCondition(status.conditions, "Reconciling")
hs.status = "Progressing"
if isTrue(reconciling) then
  hs.message = describe(reconciling, "Job in progress")
else
  hs.message = describe(ready, "Job in progress")
end
return hs
