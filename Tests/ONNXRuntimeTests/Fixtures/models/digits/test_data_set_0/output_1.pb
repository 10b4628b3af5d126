
BprobabilitiesJ(²c4û§6›þ?d7z¹.2ê5š'0©n&7¾.=5ásÅ4