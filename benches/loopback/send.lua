-- wrk script: POST template sends to ever-changing recipients (so the pair rate limit does not
-- fire) with the default world's token and phone number id.
local counter = 0
local tid = 0
function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer wabasim-dev-token"
function request()
  counter = counter + 1
  local to = 6281300000000 + ((tid or 0) * 1000000 + counter) % 5000000
  local body = string.format('{"messaging_product":"whatsapp","to":"%d","type":"template","template":{"name":"promo_diskon","language":{"code":"id"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ayu"}]}]}}', to)
  return wrk.format(nil, "/v23.0/106540352242922/messages", nil, body)
end
local non200 = 0
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
